import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliJson } from './cli-process';
import {
  playWithShaka,
  shakaState,
  withKeyplaneContentProtection,
  writePlayerPage,
  type DrmSignalling,
} from './dash-shaka';
import { launchChromium, type Browser } from './eme-player';
import { requireFfmpeg } from './ffmpeg';
import { createApiKey, startKeyplane, type KeyplaneProcess } from './keyplane-process';
import { initPsshBoxes, trackProtection } from './mp4-boxes';
import { makeClearMp4, requirePackager, runPackager } from './shaka-packager';
import { startStaticServer, type StaticServer } from './static-server';

// The README's "DASH with Shaka Packager" recipe, step by step: `keyplane request-keys --v2 --json` (one key for
// all tracks, Clear Key + Widevine + PlayReady + Common PSSH) → one Shaka Packager run with raw keys, our pssh
// boxes and --clear_lead 0 (cenc, then cbcs) → Keyplane's ContentProtectionData into the MPD → a static server →
// Shaka Player in headless Chromium plays it past 2 s, its Clear Key license from POST /clearkey/license with a
// playback token minted for the resource (`keyplane token mint`). Without the token nothing plays.

jest.setTimeout(60_000);

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const SCHEMES = ['cenc', 'cbcs'] as const;
type Scheme = (typeof SCHEMES)[number];

/** `keyplane request-keys --json`, the parts the recipe reads. */
interface KeysJson {
  resourceId: string;
  keys: Array<{ kid: string; trackType?: string; key: string; iv: string | null }>;
  drmSystems: Array<DrmSignalling & { drm: string | null }>;
}

let kp: KeyplaneProcess;
let cdn: StaticServer;
let browser: Browser;
let work: string;
let www: string;
let encoderKey: string;
let issuerKey: string;
const keysOf = {} as Record<Scheme, KeysJson>;

const cli = (args: string[], apiKey: string) =>
  runCliJson<unknown>([...args, '--url', kp.baseUrl, '--api-key', apiKey]);

/** The README's commands for one scheme; returns what `request-keys` printed. */
async function packageScheme(scheme: Scheme, source: string): Promise<KeysJson> {
  const resourceId = `dash-${scheme}-${crypto.randomUUID().slice(0, 8)}`;
  const keys = (await cli(
    [
      'request-keys',
      ...['--resource-id', resourceId, '--v2', '--preset', 'SHARED:SHARED'],
      ...['--drm', 'clearkey,widevine,playready,common-pssh', '--scheme', scheme],
    ],
    encoderKey,
  )) as KeysJson;
  const [key] = keys.keys;
  if (!key) throw new Error('request-keys printed no key');
  const pssh = Buffer.concat(keys.drmSystems.map((d) => Buffer.from(d.pssh ?? '', 'base64'))).toString('hex');
  const out = path.join(www, scheme);
  const iv = key.iv ? `:iv=${key.iv}` : '';
  await runPackager([
    `in=${source},stream=video,init_segment=${out}/video/init.mp4,segment_template=${out}/video/$Number$.m4s`,
    `in=${source},stream=audio,init_segment=${out}/audio/init.mp4,segment_template=${out}/audio/$Number$.m4s`,
    '--enable_raw_key_encryption',
    ...['--keys', `label=:key_id=${key.kid.replace(/-/g, '')}:key=${key.key}${iv}`],
    ...['--pssh', pssh],
    ...['--protection_scheme', scheme],
    ...['--clear_lead', '0'],
    ...['--segment_duration', '2'],
    '--generate_static_live_mpd',
    ...['--mpd_output', `${out}/manifest.mpd`],
  ]);
  const mpd = path.join(out, 'manifest.mpd');
  fs.writeFileSync(mpd, withKeyplaneContentProtection(fs.readFileSync(mpd, 'utf8'), keys.drmSystems));
  return keys;
}

/** Waits (bounded) until the page's video plays past `seconds` or Shaka reports an error. */
async function settle(page: Awaited<ReturnType<typeof playWithShaka>>, seconds: number): Promise<void> {
  await page
    .waitForFunction(
      `document.getElementById('video').currentTime > ${seconds} || window.state.errors.length > 0`,
      undefined,
      { timeout: 15_000, polling: 100 },
    )
    .catch(() => undefined);
}

beforeAll(async () => {
  requireFfmpeg();
  await requirePackager();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-dash-shaka-'));
  www = path.join(work, 'www');
  fs.mkdirSync(www);
  const source = path.join(work, 'clip.mp4');
  const [server] = await Promise.all([startKeyplane(ADMIN_KEY), makeClearMp4(source, 4)]);
  kp = server;
  [encoderKey, issuerKey] = await Promise.all([
    createApiKey(kp, 'e2e-encoder', ['encoder']),
    createApiKey(kp, 'e2e-token-issuer', ['token-issuer']),
  ]);
  for (const scheme of SCHEMES) keysOf[scheme] = await packageScheme(scheme, source);
  writePlayerPage(www);
  [cdn, browser] = await Promise.all([startStaticServer(www), launchChromium()]);
});

afterAll(async () => {
  await browser?.close();
  await cdn?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.each(SCHEMES)('%s', (scheme) => {
  it('the init segments carry Keyplane’s pssh boxes, scheme and KID; the MPD carries its ContentProtectionData', () => {
    const { keys, drmSystems } = keysOf[scheme];
    expect(keys).toHaveLength(1);
    expect(drmSystems.map((d) => d.drm)).toEqual(['clearkey', 'widevine', 'playready', 'common-pssh']);
    for (const stream of ['video', 'audio']) {
      const init = fs.readFileSync(path.join(www, scheme, stream, 'init.mp4'));
      expect(initPsshBoxes(init).map((b) => b.toString('base64'))).toEqual(drmSystems.map((d) => d.pssh));
      const protection = trackProtection(init);
      expect(protection.scheme).toBe(scheme);
      expect(protection.defaultKid).toBe(keys[0]?.kid);
    }
    const mpd = fs.readFileSync(path.join(www, scheme, 'manifest.mpd'), 'utf8');
    expect(mpd).toContain('type="static"');
    for (const d of drmSystems) {
      expect(mpd.split(d.contentProtectionData as string)).toHaveLength(3); // in both AdaptationSets
    }
    // The packager's MPD had the Clear Key pssh box in its ContentProtection; Keyplane's data replaced it.
    const clearKey = drmSystems.find((d) => d.drm === 'clearkey') as DrmSignalling;
    expect(mpd).not.toContain(clearKey.pssh);
    expect(mpd.match(/<clearkey:Laurl [^>]*>[^<]*</g)).toEqual([
      `<clearkey:Laurl xmlns:clearkey="http://dashif.org/guidelines/clearKey" Lic_type="EME-1.0">${kp.baseUrl}/clearkey/license<`,
      `<clearkey:Laurl xmlns:clearkey="http://dashif.org/guidelines/clearKey" Lic_type="EME-1.0">${kp.baseUrl}/clearkey/license<`,
    ]);
  });

  it('Shaka Player plays it past 2 s in Chromium with a Clear Key license for a playback token', async () => {
    const minted = (await cli(
      ['token', 'mint', '--resource-id', keysOf[scheme].resourceId, '--ttl', '300'],
      issuerKey,
    )) as { token: string };
    const page = await playWithShaka(
      browser,
      `${cdn.baseUrl}/player.html`,
      `${cdn.baseUrl}/${scheme}/manifest.mpd`,
      minted.token,
    );
    await settle(page, 2);
    const state = await shakaState(page);
    expect(state.errors).toEqual([]);
    expect(state.currentTime).toBeGreaterThan(2);
    expect(state.decodedFrames).toBeGreaterThan(25);
    expect(state.licenses.length).toBeGreaterThan(0);
    for (const l of state.licenses) expect(l).toEqual({ uri: `${kp.baseUrl}/clearkey/license`, status: 200 });
    expect(cdn.requests.filter((r) => r.url.startsWith(`/${scheme}/`) && r.status !== 200)).toEqual([]);
    await page.close();
  });
});

it('without a playback token the license is refused (Shaka error 6007) and nothing plays', async () => {
  const page = await playWithShaka(browser, `${cdn.baseUrl}/player.html`, `${cdn.baseUrl}/cenc/manifest.mpd`);
  await settle(page, 0);
  // The refused license reaches Shaka asynchronously: wait for its error (a loaded CI VM can be slow).
  let state = await shakaState(page);
  for (let waited = 0; state.errors.length === 0 && waited < 15000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    state = await shakaState(page);
  }
  expect(state.errors).toContain('shaka 6007');
  expect(state.licenses).toEqual([]);
  // Shaka may seek to the first buffered timestamp (the streams start ~0.1 s in) without a key;
  // no frame decoded is what proves nothing played.
  expect(state.currentTime).toBeLessThan(0.5);
  expect(state.decodedFrames).toBe(0);
  await page.close();
});
