import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCpixRequest } from '../../src/cli/cpix-request-builder';
import { parsePsshBox, readCpixResponse, type CpixResponse } from '../../src/cli/cpix-response-reader';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { launchChromium, playbackState, playsPast, startPlayback, startPlayerSite, type Browser } from './eme-player';
import { ffmpeg, ffmpegOk, parseFrameMd5, requireFfmpeg } from './ffmpeg';
import { createApiKey, startKeyplane, type KeyplaneProcess, type LogLine } from './keyplane-process';
import { initPsshBoxes, trackProtection } from './mp4-boxes';
import {
  decryptWithPackager,
  joinSegments,
  makeClearMp4,
  mergeMpds,
  packageEncrypted,
  requirePackager,
  type RawKey,
} from './shaka-packager';

// Real compiled server, real packager, real browser: a SPEKE v2 request (PRESET-VIDEO-1 + PRESET-AUDIO-1; W3C
// ClearKey, Widevine, PlayReady and Common PSSH) → Shaka Packager raw-key CENC to DASH (cenc, then cbcs) with the
// pssh boxes Keyplane returned → Shaka Packager decrypts with the keys GET /keys serves and the decoded frames equal
// the clear source → headless Chromium plays the cenc DASH through EME Clear Key, its license from
// POST /clearkey/license with a playback token; without one the license is refused and nothing plays.

jest.setTimeout(60_000);

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const DRMS = ['clearkey', 'widevine', 'playready', 'common-pssh'] as const;
const SYSTEM_ORDER = [SYSTEM_IDS.clearkey, SYSTEM_IDS.widevine, SYSTEM_IDS.playready, SYSTEM_IDS.commonPssh];
const STREAMS = ['video', 'audio'] as const;
type Stream = (typeof STREAMS)[number];
type Scheme = 'cenc' | 'cbcs';

/** One scheme's packaging: the keys and signalling Keyplane returned, and where the DASH output went. */
interface Packaged {
  resourceId: string;
  response: CpixResponse;
  keys: Record<Stream, RawKey>;
  pssh: Record<Stream, Buffer[]>;
  dir: string;
  /** The packager's per-stream MPDs merged, with Keyplane's Clear Key ContentProtectionData. */
  mpd: string;
}

let kp: KeyplaneProcess;
let work: string;
let source: string;
let encoderKey: string;
let keyserverKey: string;
const clear: Record<string, string[]> = {};
const packaged = {} as Record<Scheme, Packaged>;

/** Per-frame MD5s of one stream of a file: decoded, or the compressed packets with `copy`. */
async function frames(file: string, stream: Stream, copy = false): Promise<string[]> {
  const map = stream === 'video' ? '0:v:0' : '0:a:0';
  const result = await ffmpegOk(['-i', file, '-map', map, ...(copy ? ['-c', 'copy'] : []), '-f', 'framemd5', '-']);
  return parseFrameMd5(result.stdout);
}

async function spekeV2(
  resourceId: string,
  scheme: Scheme,
): Promise<{ response: CpixResponse; kidOf: Record<Stream, string> }> {
  const built = buildCpixRequest({
    speke: '2.0',
    resourceId,
    drms: DRMS,
    preset: { video: 'PRESET-VIDEO-1', audio: 'PRESET-AUDIO-1' },
    scheme,
  });
  const res = await fetch(`${kp.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': encoderKey, 'content-type': 'application/xml', 'x-speke-version': '2.0' },
    body: built.xml,
  });
  const xml = await res.text();
  if (res.status !== 200) throw new Error(`SPEKE v2 answered ${res.status}: ${xml}`);
  expect(res.headers.get('x-speke-version')).toBe('2.0');
  const kid = (trackType: string) => built.keys.find((k) => k.trackType === trackType)?.kid as string;
  return { response: readCpixResponse(xml), kidOf: { video: kid('VIDEO'), audio: kid('AUDIO') } };
}

/** Replaces the packager's Clear Key ContentProtection content with Keyplane's ContentProtectionData (pssh + Laurl). */
function withClearKeySignalling(mpd: string, cpdByKid: Map<string, string>): string {
  return mpd.replace(
    /(cenc:default_KID="([0-9a-f-]{36})"\/>[\s\S]*?<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e">)[\s\S]*?(<\/ContentProtection>)/g,
    (_all, open: string, kid: string, close: string) => `${open}${cpdByKid.get(kid) ?? ''}${close}`,
  );
}

async function packageScheme(scheme: Scheme): Promise<Packaged> {
  const resourceId = `e2e-dash-${scheme}-${crypto.randomUUID()}`;
  const { response, kidOf } = await spekeV2(resourceId, scheme);
  const dir = path.join(work, 'www', scheme);
  const keyOf = (stream: Stream): RawKey => {
    const k = response.keys.find((r) => r.kid === kidOf[stream]);
    return { label: stream.toUpperCase(), kid: kidOf[stream], key: k?.key as Buffer, iv: k?.iv };
  };
  const psshOf = (stream: Stream) =>
    SYSTEM_ORDER.map(
      (id) => response.drmSystems.find((d) => d.kid === kidOf[stream] && d.systemId === id)?.pssh as Buffer,
    );
  const keys = { video: keyOf('video'), audio: keyOf('audio') };
  const pssh = { video: psshOf('video'), audio: psshOf('audio') };
  const mpds = await Promise.all(
    STREAMS.map((stream) => packageEncrypted({ source, stream, dir, key: keys[stream], scheme, pssh: pssh[stream] })),
  );
  const cpd = new Map(
    response.drmSystems
      .filter((d) => d.systemId === SYSTEM_IDS.clearkey)
      .map((d) => [d.kid, d.contentProtectionData as string]),
  );
  const mpd = mergeMpds(mpds, path.join(dir, 'manifest.mpd'));
  fs.writeFileSync(mpd, withClearKeySignalling(fs.readFileSync(mpd, 'utf8'), cpd));
  return { resourceId, response, keys, pssh, dir, mpd };
}

/** License requests in the server's access log with the given status. */
const licenseCalls = (logs: LogLine[], status: number) =>
  logs.filter(
    (l) => l.msg === 'request' && l.method === 'POST' && l.route === '/clearkey/license' && l.status === status,
  ).length;

/** The server's log reaches us through a pipe, possibly a moment after the browser saw the answer. */
async function licenseCallsAbove(status: number, before: number): Promise<number> {
  for (let i = 0; i < 100 && licenseCalls(kp.logs, status) <= before; i++) await new Promise((r) => setTimeout(r, 20));
  return licenseCalls(kp.logs, status);
}

/** The KIDs (as UUIDs) of the license requests the page logged, sorted. */
function requestedKids(log: string[]): string[] {
  return log
    .filter((line) => line.includes(' license request '))
    .flatMap((line) => (JSON.parse(line.slice(line.indexOf('{'))) as { kids: string[] }).kids)
    .map((kid) => Buffer.from(kid, 'base64url').toString('hex'))
    .map((hex) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`)
    .sort();
}

beforeAll(async () => {
  requireFfmpeg();
  await requirePackager();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-dash-e2e-'));
  source = path.join(work, 'clear.mp4');
  const [server] = await Promise.all([startKeyplane(ADMIN_KEY), makeClearMp4(source, 6)]);
  kp = server;
  [encoderKey, keyserverKey] = await Promise.all([
    createApiKey(kp, 'e2e-encoder', ['encoder']),
    createApiKey(kp, 'e2e-keyserver', ['keyserver']),
  ]);
  for (const stream of STREAMS) {
    [clear[stream], clear[`${stream}-packets`]] = await Promise.all([
      frames(source, stream),
      frames(source, stream, true),
    ]);
  }
  [packaged.cenc, packaged.cbcs] = await Promise.all([packageScheme('cenc'), packageScheme('cbcs')]);
});

afterAll(async () => {
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it('has a 6 s clear source with H.264 video and AAC audio', () => {
  expect(clear.video).toHaveLength(150);
  expect(clear.audio?.length).toBeGreaterThan(250);
});

describe.each<Scheme>(['cenc', 'cbcs'])('SPEKE v2 keys → Shaka Packager %s', (scheme) => {
  const p = () => packaged[scheme];

  it('Keyplane answers one key per track and, per KID, a pssh box for each of the four systems', () => {
    const { keys, pssh } = p();
    for (const stream of STREAMS) {
      expect(keys[stream].key).toHaveLength(16);
      expect(keys[stream].iv?.length ?? 0).toBe(scheme === 'cbcs' ? 16 : 0);
      const boxes = pssh[stream].map(parsePsshBox);
      expect(boxes.map((b) => b.systemId)).toEqual(SYSTEM_ORDER);
      for (const box of boxes.filter((b) => b.version === 1)) expect(box.kids).toEqual([keys[stream].kid]);
    }
    expect(keys.video.kid).not.toBe(keys.audio.kid);
  });

  it.each(STREAMS)(
    'the %s init segment carries exactly our pssh boxes; schm/tenc name the scheme and KID',
    (stream) => {
      const init = fs.readFileSync(path.join(p().dir, stream, 'init.mp4'));
      expect(initPsshBoxes(init).map((b) => b.toString('hex'))).toEqual(p().pssh[stream].map((b) => b.toString('hex')));
      const protection = trackProtection(init);
      expect(protection.scheme).toBe(scheme);
      expect(protection.defaultKid).toBe(p().keys[stream].kid);
      if (scheme === 'cbcs') expect(protection.constantIv).toEqual(p().keys[stream].iv);
      else expect(protection.perSampleIvSize).toBeGreaterThan(0);
    },
  );

  it('the packager’s MPDs signal our pssh boxes; the merged MPD carries Keyplane’s Clear Key license URL', () => {
    for (const stream of STREAMS) {
      const own = fs.readFileSync(path.join(p().dir, `${stream}.mpd`), 'utf8');
      const signalled = [...own.matchAll(/<cenc:pssh>([^<]+)<\/cenc:pssh>/g)].map((m) => m[1]);
      expect(signalled).toEqual(p().pssh[stream].map((box) => box.toString('base64')));
    }
    const mpd = fs.readFileSync(p().mpd, 'utf8');
    expect(mpd.match(/<clearkey:Laurl [^>]*>([^<]*)<\/clearkey:Laurl>/g)).toEqual([
      expect.stringContaining(`>${kp.baseUrl}/clearkey/license<`),
      expect.stringContaining(`>${kp.baseUrl}/clearkey/license<`),
    ]);
  });

  it.each(STREAMS)(
    'the %s stream is encrypted, and Shaka Packager decrypts it with the key GET /keys serves: frames equal the clear source',
    async (stream) => {
      const { keys, resourceId, dir } = p();
      const res = await fetch(`${kp.baseUrl}/keys/${resourceId}/${keys[stream].kid}`, {
        headers: { 'x-api-key': keyserverKey },
      });
      expect(res.status).toBe(200);
      const served = Buffer.from(await res.arrayBuffer());
      expect(served).toEqual(keys[stream].key);

      const encrypted = joinSegments(path.join(dir, stream), path.join(work, `${scheme}-${stream}-enc.mp4`));
      const garbled = await ffmpeg(['-i', encrypted, '-f', 'framemd5', '-']);
      expect(garbled.code !== 0 || parseFrameMd5(garbled.stdout).join() !== clear[stream]?.join()).toBe(true);

      const decrypted = path.join(work, `${scheme}-${stream}-dec.mp4`);
      await decryptWithPackager(encrypted, stream, { ...keys[stream], key: served }, decrypted);
      expect(await frames(decrypted, stream, true)).toEqual(clear[`${stream}-packets`]);
      const decoded = await frames(decrypted, stream);
      if (stream === 'video') {
        expect(decoded).toEqual(clear.video);
      } else {
        // The source MP4's edit list hides the AAC encoder's priming frame; the fragmented output keeps it.
        const expected = clear.audio as string[];
        expect(decoded.length - expected.length).toBeGreaterThanOrEqual(0);
        expect(decoded.length - expected.length).toBeLessThanOrEqual(1);
        expect(decoded.slice(decoded.length - expected.length)).toEqual(expected);
      }
    },
  );
});

describe('headless Chromium plays the DASH with EME Clear Key', () => {
  let browser: Browser;
  let site: Awaited<ReturnType<typeof startPlayerSite>>;

  beforeAll(async () => {
    [browser, site] = await Promise.all([launchChromium(), startPlayerSite(path.join(work, 'www'))]);
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it.each<Scheme>(['cenc', 'cbcs'])(
    '%s with a playback token: the license comes from POST /clearkey/license and the video plays past 2 s',
    async (scheme) => {
      const res = await fetch(`${kp.baseUrl}/playback-tokens`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId: packaged[scheme].resourceId, ttlSeconds: 120 }),
      });
      expect(res.status).toBe(201);
      const { token } = (await res.json()) as { token: string };
      const before = licenseCalls(kp.logs, 200);
      const page = await startPlayback(browser, site, `${site.baseUrl}/${scheme}/manifest.mpd`, {
        Authorization: `Bearer ${token}`,
      });
      const played = await playsPast(page, 2, 15_000);
      const state = await playbackState(page);
      if (!played) throw new Error(`did not play: ${JSON.stringify(state, null, 2)}`);
      expect(state.errors).toEqual([]);
      expect(state.laUrl).toBe(`${kp.baseUrl}/clearkey/license`);
      expect(state.licenses).toEqual([200, 200]);
      // One Clear Key session per track; Chromium asks for the KID of that track's Common PSSH box.
      expect(requestedKids(state.log)).toEqual(STREAMS.map((st) => packaged[scheme].keys[st].kid).sort());
      expect(state.decodedFrames).toBeGreaterThan(25);
      expect(await licenseCallsAbove(200, before)).toBe(before + 2);
      expect(site.requests.filter((r) => r.url.startsWith(`/${scheme}/`) && r.url.endsWith('.m4s'))).toHaveLength(6);
      await page.close();
    },
  );

  it('cenc without a credential: the license route answers 401 and nothing plays', async () => {
    const before = licenseCalls(kp.logs, 401);
    const page = await startPlayback(browser, site, `${site.baseUrl}/cenc/manifest.mpd`, {});
    await page.waitForFunction('window.playerState.licenses.length >= 2 && window.playerState.done', undefined, {
      timeout: 10_000,
      polling: 100,
    });
    expect(await playsPast(page, 0.2, 1_500)).toBe(false);
    const state = await playbackState(page);
    expect(state.licenses).toEqual([401, 401]);
    expect(state.currentTime).toBe(0);
    expect(state.decodedFrames).toBe(0);
    expect(await licenseCallsAbove(401, before)).toBe(before + 2);
    await page.close();
  });
});
