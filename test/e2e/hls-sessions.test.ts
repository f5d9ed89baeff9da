import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeFrames, makeClearSource, requireFfmpeg } from './ffmpeg';
import { launchBrowser, play, type HlsBrowser } from './hls-player';
import { createApiKey, freePort, startKeyplane, type KeyplaneProcess } from './keyplane-process';
import { startRangeOrigin, writeFile, type RangeOrigin } from './range-origin';
import { LAYOUTS, packageClear } from './session-media';

// Session-level encryption end to end: clear HLS (TS, fMP4, one byte-range file) on a local origin,
// played through /sessions/... by hls.js in headless Chromium and decoded by ffmpeg (which decrypts
// AES-128 itself) frame-identically to the clear source. Two sessions get different keys, a segment of
// one does not decrypt with the other's key, encrypted origins and other tenants' resources are refused.

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const RESOURCE = `e2e-sessions-${crypto.randomUUID()}`;
const OTHER = `e2e-sessions-other-${crypto.randomUUID()}`;

let kp: KeyplaneProcess;
let origin: RangeOrigin;
let browser: HlsBrowser;
let work: string;
let www: string;

async function api(key: string, method: string, urlPath: string, body?: object): Promise<Response> {
  return fetch(`${kp.baseUrl}${urlPath}`, {
    method,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
}

async function mintToken(resourceId: string): Promise<string> {
  const res = await api(ADMIN_KEY, 'POST', '/playback-tokens', { resourceId, ttlSeconds: 300 });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

/** The session entry of a layout's playlist (or of `rel`, a path below the resource), token in the query. */
const entry = (layout: string, token: string, rel = `${layout}/index.m3u8`) =>
  `${kp.baseUrl}/sessions/hls/${RESOURCE}/${rel}?token=${encodeURIComponent(token)}`;

/** Opens a session on the TS layout; returns its playlist, key URI and first segment URI. */
async function openSession(token: string): Promise<{ text: string; keyUri: string; segment: string }> {
  const res = await fetch(entry('ts', token));
  expect(res.status).toBe(200);
  const text = await res.text();
  const keyUri = /#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"/.exec(text)?.[1] as string;
  const segment = text.split('\n').find((l) => l.startsWith('http')) as string;
  return { text, keyUri, segment };
}

async function bytes(url: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function decrypt(key: Buffer, seq: number, data: Buffer): Buffer | undefined {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(seq), 8);
  try {
    const d = crypto.createDecipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    return undefined; // bad padding: the wrong key
  }
}

beforeAll(async () => {
  requireFfmpeg();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sessions-e2e-'));
  www = path.join(work, 'www');
  const originPort = await freePort();
  const originUrl = `http://127.0.0.1:${originPort}`;
  kp = await startKeyplane(ADMIN_KEY, {
    KEYPLANE_TOKEN_SIGNING_KEYS: `e2e:${crypto.randomBytes(32).toString('base64')}`,
    KEYPLANE_ORIGIN_URL: `${originUrl}/vod/{resourceId}/`,
    KEYPLANE_DELIVERY_ALLOW_ORIGINS: originUrl,
  });
  origin = await startRangeOrigin(www, originPort);
  const source = path.join(work, 'clear.ts');
  await makeClearSource(source);
  const dir = path.join(www, 'vod', RESOURCE);
  for (const layout of LAYOUTS) await packageClear(source, dir, layout);
  writeFile(dir, 'master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nts/index.m3u8\n');
  writeFile(
    dir,
    'enc/index.m3u8',
    '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-KEY:METHOD=AES-128,URI="k.key"\n#EXTINF:1,\n../ts/seg000.ts\n#EXT-X-ENDLIST\n',
  );
  expect((await api(ADMIN_KEY, 'POST', '/static-keys', { resourceId: RESOURCE })).status).toBe(201);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await origin?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('session-level encryption with real players', () => {
  it.each(LAYOUTS)('%s: ffmpeg decodes the session frame-identically to the clear source', async (layout) => {
    const clear = await decodeFrames(path.join(www, 'vod', RESOURCE, layout, 'index.m3u8'));
    expect(clear.frames.length).toBeGreaterThan(50);
    const viaSession = await decodeFrames(entry(layout, await mintToken(RESOURCE)));
    expect(viaSession.stderr).toBe('');
    expect(viaSession.frames).toEqual(clear.frames);
  });

  it.each(LAYOUTS)('%s: hls.js in Chromium plays through the session past 2 s', async (layout) => {
    const outcome = await play(
      browser.context,
      `${origin.baseUrl}/player.html`,
      entry(layout, await mintToken(RESOURCE)),
    );
    expect(outcome.fatal).toBeNull();
    expect(outcome.currentTime).toBeGreaterThan(2);
  });

  it('rewrites the playlists: one session key, segments encrypted, byte ranges as segments, master via the session', async () => {
    const token = await mintToken(RESOURCE);
    const master = await (await fetch(entry('', token, 'master.m3u8'))).text();
    const variant = master.split('\n').find((l) => l.startsWith('http')) as string;
    expect(variant).toMatch(new RegExp(`^${kp.baseUrl}/sessions/v1\\.[^/]+/hls/${RESOURCE}/ts/index\\.m3u8$`));
    const media = await (await fetch(variant)).text();
    expect(media.match(/#EXT-X-KEY/g)).toHaveLength(1);
    const br = await (await fetch(entry('byterange', token))).text();
    expect(br).not.toContain('EXT-X-BYTERANGE');
    expect(br).toContain('all.ts?kp_seq=1&kp_off=');
    expect(origin.requests.some((r) => r.url.endsWith('/all.ts') && r.status === 206)).toBe(true);
    const fmp4 = await (await fetch(entry('fmp4', token))).text();
    expect(fmp4.indexOf('#EXT-X-MAP')).toBeLessThan(fmp4.indexOf('#EXT-X-KEY'));
  });

  it('gives two sessions different keys; a segment of one does not decrypt with the other key', async () => {
    const token = await mintToken(RESOURCE);
    const [a, b] = [await openSession(token), await openSession(token)];
    expect(a.keyUri).not.toBe(b.keyUri);
    const [keyA, keyB] = [await bytes(a.keyUri), await bytes(b.keyUri)];
    expect(keyA.status).toBe(200);
    expect(keyA.headers.get('cache-control')).toBe('no-store');
    expect(keyA.body).toHaveLength(16);
    expect(keyA.body.equals(keyB.body)).toBe(false);
    const segA = await bytes(a.segment);
    const clear = fs.readFileSync(path.join(www, 'vod', RESOURCE, 'ts', 'seg000.ts'));
    expect(segA.body.equals(clear)).toBe(false);
    expect(decrypt(keyA.body, 0, segA.body)?.equals(clear)).toBe(true);
    expect(decrypt(keyB.body, 0, segA.body)?.equals(clear) ?? false).toBe(false);
  });

  it('refuses already-encrypted origin content with a 502 naming it', async () => {
    const res = await fetch(entry('enc', await mintToken(RESOURCE)));
    expect(res.status).toBe(502);
    const body = (await res.json()) as { reason: string; message: string };
    expect(body.reason).toBe('origin_already_encrypted');
    expect(body.message).toContain('already encrypted');
  });

  it('scopes by resource and tenant: a token for another resource, a keyserver of another tenant are refused', async () => {
    const tenantAdmin = (
      (await (
        await api(ADMIN_KEY, 'POST', '/api-keys', { name: 'b-admin', roles: ['admin'], tenant: 'tenant-b' })
      ).json()) as {
        key: string;
      }
    ).key;
    expect((await api(tenantAdmin, 'POST', '/static-keys', { resourceId: OTHER })).status).toBe(201);
    const otherToken = await mintToken(OTHER);
    const mismatch = await fetch(entry('ts', otherToken));
    expect(mismatch.status).toBe(403);
    expect(((await mismatch.json()) as { reason: string }).reason).toBe('token_resource_mismatch');
    const keyserverB = (
      (await (
        await api(ADMIN_KEY, 'POST', '/api-keys', { name: 'b-proxy', roles: ['keyserver'], tenant: 'tenant-b' })
      ).json()) as {
        key: string;
      }
    ).key;
    const notYours = await fetch(`${kp.baseUrl}/sessions/hls/${RESOURCE}/ts/index.m3u8`, {
      headers: { 'x-api-key': keyserverB },
    });
    expect(notYours.status).toBe(403);
    expect(((await notYours.json()) as { reason: string }).reason).toBe('resource_not_yours');
    const none = await fetch(`${kp.baseUrl}/sessions/hls/${RESOURCE}/ts/index.m3u8`);
    expect(none.status).toBe(401);
    const encoder = await createApiKey(kp, 'enc', ['encoder']);
    const wrongRole = await fetch(`${kp.baseUrl}/sessions/hls/${RESOURCE}/ts/index.m3u8`, {
      headers: { 'x-api-key': encoder },
    });
    expect(wrongRole.status).toBe(403);
  });

  it('audits the session: opened, key delivered, segments served', async () => {
    const token = await mintToken(RESOURCE);
    const s = await openSession(token);
    await bytes(s.keyUri);
    await bytes(s.segment);
    const res = await api(ADMIN_KEY, 'GET', `/audit?resourceId=${RESOURCE}&limit=1000`);
    const records = ((await res.json()) as { records: { route: string; principal?: string; outcome: string }[] })
      .records;
    const nonce = JSON.parse(
      Buffer.from(s.keyUri.split('/sessions/')[1]?.split('.')[1] as string, 'base64url').toString(),
    ).n;
    const mine = records.filter((r) => r.principal === `session:${nonce}`);
    expect(mine.map((r) => r.route).sort()).toEqual([
      'GET /sessions/{sessionId}/hls/{resourceId}/{path}',
      'GET /sessions/{sessionId}/key',
    ]);
    expect(
      records.some((r) => r.route === 'GET /sessions/hls/{resourceId}/{path}' && r.principal?.startsWith('token:')),
    ).toBe(true);
  });
});
