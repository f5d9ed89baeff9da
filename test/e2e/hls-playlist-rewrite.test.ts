import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { responseKeys } from '../helpers/cpix';
import { makeClearSource, packageHlsAes128, requireFfmpeg } from './ffmpeg';
import { launchBrowser, play, startHlsSite, type HlsBrowser, type HlsSite } from './hls-player';
import { createApiKey, freePort, startKeyplane, type KeyplaneProcess, type LogLine } from './keyplane-process';

// hls.js in headless Chromium plays an AES-128 HLS packaged with a Keyplane key, through the playlist-rewriting
// route: the master and media playlists come from Keyplane (tokenized), segments straight from the "CDN", the key
// from the playback-token key route. A page whose token has expired cannot play: the key route answers 410.

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';
const RESOURCE = `e2e-rewrite-${crypto.randomUUID()}`;
const KID = crypto.randomUUID();
const KEY_ROUTE = '/playback/:token/keys/:resourceId/:kid';
const PLAYLIST_ROUTE = '/playback/:token/hls/:resourceId/*path';

let kp: KeyplaneProcess;
let cdn: HlsSite;
let browser: HlsBrowser;
let work: string;
let key: Buffer;

const routeHits = (logs: LogLine[], route: string, status: number) =>
  logs.filter((l) => l.msg === 'request' && l.route === route && l.status === status).length;

/** The access log reaches us through a pipe: wait briefly for a line to arrive. */
async function waitForHits(route: string, status: number): Promise<number> {
  for (let i = 0; i < 100 && routeHits(kp.logs, route, status) === 0; i++) await new Promise((r) => setTimeout(r, 20));
  return routeHits(kp.logs, route, status);
}

async function api(method: string, urlPath: string, body?: object): Promise<Response> {
  return fetch(`${kp.baseUrl}${urlPath}`, {
    method,
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
}

async function mintToken(ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
  const res = await api('POST', '/playback-tokens', { resourceId: RESOURCE, ttlSeconds });
  expect(res.status).toBe(201);
  return (await res.json()) as { token: string; expiresAt: string };
}

async function issueKey(encoderKey: string): Promise<{ key: Buffer; iv: Buffer }> {
  const xml =
    `<cpix:CPIX id="${RESOURCE}" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" ` +
    `xmlns:speke="urn:aws:amazon:com:speke"><cpix:ContentKeyList><cpix:ContentKey kid="${KID}"/></cpix:ContentKeyList>` +
    `<cpix:DRMSystemList><cpix:DRMSystem kid="${KID}" systemId="${HLS_AES128}"><cpix:URIExtXKey/>` +
    `<speke:KeyFormat/><speke:KeyFormatVersions/></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`;
  const res = await fetch(`${kp.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': encoderKey, 'content-type': 'application/xml' },
    body: xml,
  });
  expect(res.status).toBe(200);
  return responseKeys(await res.text()).get(KID) as { key: Buffer; iv: Buffer };
}

beforeAll(async () => {
  requireFfmpeg();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-rewrite-e2e-'));
  const www = path.join(work, 'www');
  fs.mkdirSync(www);
  const cdnPort = await freePort();
  const cdnUrl = `http://127.0.0.1:${cdnPort}`;
  kp = await startKeyplane(ADMIN_KEY, {
    KEYPLANE_TOKEN_SIGNING_KEYS: `e2e:${crypto.randomBytes(32).toString('base64')}`,
    KEYPLANE_ORIGIN_URL: `${cdnUrl}/vod/{resourceId}/`,
    KEYPLANE_DELIVERY_ALLOW_ORIGINS: cdnUrl,
  });
  cdn = await startHlsSite(www, cdnPort);
  const issued = await issueKey(await createApiKey(kp, 'e2e-encoder', ['encoder']));
  key = issued.key;
  const source = path.join(work, 'clear.ts');
  await makeClearSource(source);
  const dir = path.join(www, 'vod', RESOURCE);
  const info = { uri: `${kp.baseUrl}/keys/${RESOURCE}/${KID}`, key, ivHex: issued.iv.toString('hex') };
  await packageHlsAes128(source, dir, info, path.join(work, 'secrets'));
  fs.writeFileSync(path.join(dir, 'master.m3u8'), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nindex.m3u8\n');
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await cdn?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('hls.js through the playlist-rewriting route', () => {
  it('plays past 2 s: playlists from Keyplane, segments from the CDN, the key through the token', async () => {
    const { token } = await mintToken(300);
    const src = `${kp.baseUrl}/playback/${token}/hls/${RESOURCE}/master.m3u8`;
    const outcome = await play(browser.context, `${cdn.baseUrl}/player.html`, src);
    expect(outcome.fatal).toBeNull();
    expect(outcome.currentTime).toBeGreaterThan(2);
    expect(await waitForHits(PLAYLIST_ROUTE, 200)).toBeGreaterThanOrEqual(2);
    expect(await waitForHits(KEY_ROUTE, 200)).toBeGreaterThanOrEqual(1);
    expect(cdn.requests.some((r) => r.url.endsWith('.ts') && r.status === 200)).toBe(true);
    expect(cdn.requests.some((r) => r.url.endsWith('.m3u8') && r.status === 200)).toBe(true);
    const audit = (await (await api('GET', `/audit?resourceId=${RESOURCE}`)).json()) as {
      records: { route: string; outcome: string; principal?: string }[];
    };
    const deliveries = audit.records.filter((r) => r.route === 'GET /playback/{token}/keys/{resourceId}/{kid}');
    expect(deliveries.length).toBeGreaterThanOrEqual(1);
    expect(deliveries.every((r) => r.outcome === 'allowed' && r.principal?.startsWith('token:'))).toBe(true);
  });

  it('cannot play once the token has expired: the key route answers 410', async () => {
    const { token, expiresAt } = await mintToken(2);
    // The player got its playlist while the token was valid (saved on the CDN), and asks for the key later.
    const rewritten = await fetch(`${kp.baseUrl}/playback/${token}/hls/${RESOURCE}/index.m3u8`);
    expect(rewritten.status).toBe(200);
    fs.writeFileSync(path.join(work, 'www', 'expired.m3u8'), await rewritten.text());
    const waitMs = new Date(expiresAt).getTime() + 1100 - Date.now();
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    const before = routeHits(kp.logs, KEY_ROUTE, 410);
    const outcome = await play(browser.context, `${cdn.baseUrl}/player.html`, `${cdn.baseUrl}/expired.m3u8`);
    expect(outcome.fatal).toMatch(/key/i);
    expect(outcome.currentTime).toBe(0);
    for (let i = 0; i < 100 && routeHits(kp.logs, KEY_ROUTE, 410) === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(routeHits(kp.logs, KEY_ROUTE, 410)).toBeGreaterThan(before);
    const again = await fetch(`${kp.baseUrl}/playback/${token}/hls/${RESOURCE}/index.m3u8`);
    expect(again.status).toBe(410);
  });

  it('never wrote the key to the server log', () => {
    const text = JSON.stringify(kp.logs);
    for (const form of [key.toString('base64'), key.toString('base64url'), key.toString('hex')]) {
      expect(text.includes(form) || text.includes(form.toUpperCase())).toBe(false);
    }
  });
});
