import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { akamaiAclToken } from '../helpers/akamai-edgeauth';
import { makeClearSource, packageHlsAes128, requireFfmpeg } from './ffmpeg';
import { launchBrowser, play, PLAYER_HTML, startHlsSite, type HlsBrowser, type HlsSite } from './hls-player';
import { freePort, startKeyplane, type KeyplaneProcess, type LogLine } from './keyplane-process';

// hls.js in headless Chromium plays AES-128 HLS whose EXT-X-KEY is Keyplane's plain `/keys/{resourceId}/{kid}`:
// no token in any URL, the key authorized only by a cookie for the player site's host (a playback token in
// KEYPLANE_TOKEN_COOKIE, or an Akamai EdgeAuth token in `__token__`). The player page is on another origin (port),
// so the key request is credentialed CORS: it works because that origin is listed in KEYPLANE_DELIVERY_ALLOW_ORIGINS.

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const EDGE_KEY = crypto.randomBytes(16).toString('hex');
const RESOURCE = `e2e-cookie-${crypto.randomUUID()}`;
const KEY_ROUTE = '/keys/:resourceId/:kid';

/** The stock player page, sending credentials (cookies) on key requests only: the CDN answers `*`. */
const COOKIE_PLAYER = PLAYER_HTML.replace(
  'new Hls({',
  "new Hls({ xhrSetup: (xhr, url) => { if (url.includes('/keys/')) xhr.withCredentials = true; },",
);

let kp: KeyplaneProcess;
let site: HlsSite;
let browser: HlsBrowser;
let work: string;

// A 401 is answered before routing: its access-log line names no route.
const hits = (logs: LogLine[], status: number) =>
  logs.filter((l) => l.msg === 'request' && (l.route === KEY_ROUTE || status === 401) && l.status === status).length;

async function waitForHit(status: number, before: number): Promise<number> {
  for (let i = 0; i < 100 && hits(kp.logs, status) === before; i++) await new Promise((r) => setTimeout(r, 20));
  return hits(kp.logs, status);
}

async function api(method: string, urlPath: string, body?: object): Promise<Response> {
  return fetch(`${kp.baseUrl}${urlPath}`, {
    method,
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
}

/** Sets a cookie for the host the player site and Keyplane share (cookies ignore ports), as the site would. */
async function setCookie(name: string, value: string): Promise<void> {
  await browser.context.clearCookies();
  await browser.context.addCookies([
    { name, value, domain: '127.0.0.1', path: '/keys/', httpOnly: true, sameSite: 'Lax' },
  ]);
}

beforeAll(async () => {
  requireFfmpeg();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cookie-e2e-'));
  const www = path.join(work, 'www');
  fs.mkdirSync(www);
  const sitePort = await freePort();
  kp = await startKeyplane(ADMIN_KEY, {
    KEYPLANE_TOKEN_SIGNING_KEYS: `e2e:${crypto.randomBytes(32).toString('base64')}`,
    KEYPLANE_EDGEAUTH_KEY: EDGE_KEY,
    KEYPLANE_DELIVERY_ALLOW_ORIGINS: `http://127.0.0.1:${sitePort}`,
  });
  site = await startHlsSite(www, sitePort);
  fs.writeFileSync(path.join(www, 'cookie-player.html'), COOKIE_PLAYER);
  const created = await api('POST', '/static-keys', { resourceId: RESOURCE });
  expect(created.status).toBe(201);
  const sk = (await created.json()) as { kid: string; StaticKeyValue: string; ConstantInitializationVector: string };
  const source = path.join(work, 'clear.ts');
  await makeClearSource(source);
  const info = {
    uri: `${kp.baseUrl}/keys/${RESOURCE}/${sk.kid}`,
    key: Buffer.from(sk.StaticKeyValue, 'hex'),
    ivHex: sk.ConstantInitializationVector,
  };
  await packageHlsAes128(source, path.join(www, 'vod'), info, path.join(work, 'secrets'));
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('hls.js with the key authorized by a cookie only', () => {
  const playIt = () => play(browser.context, `${site.baseUrl}/cookie-player.html`, `${site.baseUrl}/vod/index.m3u8`);

  it('plays past 2 s with a playback token in the keyplane_token cookie', async () => {
    const minted = await api('POST', '/playback-tokens', { resourceId: RESOURCE, ttlSeconds: 300 });
    await setCookie('keyplane_token', ((await minted.json()) as { token: string }).token);
    const before = hits(kp.logs, 200);
    const outcome = await playIt();
    expect(outcome.fatal).toBeNull();
    expect(outcome.currentTime).toBeGreaterThan(2);
    expect(await waitForHit(200, before)).toBeGreaterThan(before);
  });

  it('plays past 2 s with an EdgeAuth token from akamai-edgeauth in the __token__ cookie', async () => {
    const now = Math.floor(Date.now() / 1000);
    await setCookie(
      '__token__',
      akamaiAclToken({ key: EDGE_KEY, startTime: now, endTime: now + 300 }, `/keys/${RESOURCE}/*`),
    );
    const outcome = await playIt();
    expect(outcome.fatal).toBeNull();
    expect(outcome.currentTime).toBeGreaterThan(2);
  });

  it('cannot play without the cookie: the key answers 401', async () => {
    await browser.context.clearCookies();
    const before = hits(kp.logs, 401);
    const outcome = await playIt();
    expect(outcome.fatal).toMatch(/key/i);
    expect(outcome.currentTime).toBe(0);
    expect(await waitForHit(401, before)).toBeGreaterThan(before);
  });
});
