import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { createProxyApp, loadProxyConfig } from '../../examples/keyserver-proxy';
import { SESSION_COOKIE } from '../../examples/keyserver-proxy/session';
import { NS } from '../../src/cpix/namespaces';
import { drmField, responseKeys } from '../helpers/cpix';
import { makeClearSource, packageHlsAes128, requireFfmpeg } from './ffmpeg';
import { HLS_JS, launchBrowser, play, PLAYER_HTML, startHlsSite, type HlsBrowser, type HlsSite } from './hls-player';
import { createApiKey, freePort, startKeyplane, type KeyplaneProcess } from './keyplane-process';

// The Gcore-style flow with the reference proxy (examples/keyserver-proxy): the playlist's key URL is the
// customer's keyserver (KEYPLANE_KEY_URL_TEMPLATE); it checks its session cookie and fetches the key from
// Keyplane with SigV4 (aws-sigv4-fetch). hls.js in Chromium plays with the cookie and fails without it (403).

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';
const ACCESS_KEY_ID = 'AKIDKEYSERVERPROXY';
const SECRET_ACCESS_KEY = crypto.randomBytes(24).toString('base64url');
const RESOURCE = `e2e-proxy-${crypto.randomUUID()}`;
const KID = crypto.randomUUID();
const PASSWORD = 'demo-password-1';

let kp: KeyplaneProcess;
let cdn: HlsSite;
let proxy: Server;
let proxyUrl: string;
let browser: HlsBrowser;
let work: string;
let key: Buffer;
const proxyAnswers: Array<{ url: string; status: number }> = [];

async function speke(encoderKey: string): Promise<string> {
  const res = await fetch(`${kp.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': encoderKey, 'content-type': 'application/xml' },
    body:
      `<cpix:CPIX id="${RESOURCE}" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" ` +
      `xmlns:speke="urn:aws:amazon:com:speke"><cpix:ContentKeyList><cpix:ContentKey kid="${KID}"/>` +
      `</cpix:ContentKeyList><cpix:DRMSystemList><cpix:DRMSystem kid="${KID}" systemId="${HLS_AES128}">` +
      `<cpix:URIExtXKey/><speke:KeyFormat/><speke:KeyFormatVersions/></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`,
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** Starts the example proxy on `port`, recording its answers, serving the player page and hls.js. */
async function startProxy(port: number, publicDir: string): Promise<Server> {
  fs.mkdirSync(publicDir, { recursive: true });
  fs.writeFileSync(path.join(publicDir, 'player.html'), PLAYER_HTML);
  fs.copyFileSync(HLS_JS, path.join(publicDir, 'hls.js'));
  const config = loadProxyConfig({
    PORT: String(port),
    KEYPLANE_URL: kp.baseUrl,
    KEYPLANE_ACCESS_KEY_ID: ACCESS_KEY_ID,
    KEYPLANE_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    SESSION_SECRET: crypto.randomBytes(24).toString('hex'),
    DEMO_PASSWORD: PASSWORD,
    PUBLIC_DIR: publicDir,
    COOKIE_SECURE: 'false',
  });
  const outer = express();
  outer.use((req, res, next) => {
    res.on('finish', () => proxyAnswers.push({ url: req.originalUrl, status: res.statusCode }));
    next();
  });
  outer.use(createProxyApp(config));
  return new Promise((resolve) => {
    const server = outer.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function login(password = PASSWORD): Promise<Response> {
  return fetch(`${proxyUrl}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'viewer-1', password }),
  });
}

async function sessionCookie(): Promise<string> {
  const res = await login();
  expect(res.status).toBe(204);
  const setCookie = res.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/HttpOnly/i);
  return (new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(setCookie) as RegExpExecArray)[1] as string;
}

const keyAnswers = (status: number) =>
  proxyAnswers.filter((a) => a.url === `/keys/${RESOURCE}/${KID}` && a.status === status).length;

beforeAll(async () => {
  requireFfmpeg();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-proxy-e2e-'));
  const proxyPort = await freePort();
  proxyUrl = `http://127.0.0.1:${proxyPort}`;
  kp = await startKeyplane(ADMIN_KEY, {
    KEYPLANE_SIGV4_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:keyserver`,
    KEYPLANE_KEY_URL_TEMPLATE: `${proxyUrl}/keys/{resourceId}/{kid}`,
  });
  cdn = await startHlsSite(path.join(work, 'www'));
  proxy = await startProxy(proxyPort, path.join(work, 'proxy-public'));
  const xml = await speke(await createApiKey(kp, 'e2e-encoder', ['encoder']));
  const issued = responseKeys(xml).get(KID) as { key: Buffer; iv: Buffer };
  key = issued.key;
  const uri = drmField(xml, KID, NS.cpix, 'URIExtXKey') as string;
  expect(uri).toBe(`${proxyUrl}/keys/${RESOURCE}/${KID}`);
  const source = path.join(work, 'clear.ts');
  await makeClearSource(source);
  const info = { uri, key, ivHex: issued.iv.toString('hex') };
  await packageHlsAes128(source, path.join(work, 'www', 'vod'), info, path.join(work, 'secrets'));
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (proxy) await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await cdn?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('reference keyserver proxy (examples/keyserver-proxy)', () => {
  it('answers the raw key with the Gcore headers to a signed-in viewer, fetched from Keyplane with SigV4', async () => {
    const res = await fetch(`${proxyUrl}/keys/${RESOURCE}/${KID}`, {
      headers: { cookie: `${SESSION_COOKIE}=${await sessionCookie()}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-transfer-encoding')).toBe('binary');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), key)).toBe(0);
    const audit = await fetch(`${kp.baseUrl}/audit?resourceId=${RESOURCE}`, { headers: { 'x-api-key': ADMIN_KEY } });
    const records = ((await audit.json()) as { records: { route: string; principal?: string }[] }).records;
    expect(records).toContainEqual(
      expect.objectContaining({ route: 'GET /keys/{resourceId}/{kid}', principal: `sigv4:${ACCESS_KEY_ID}` }),
    );
  });

  it('refuses without a valid session (403), with a wrong password (401), and unknown keys (404)', async () => {
    expect((await fetch(`${proxyUrl}/keys/${RESOURCE}/${KID}`)).status).toBe(403);
    const forged = `viewer-1.${Math.floor(Date.now() / 1000) + 60}.${'A'.repeat(43)}`;
    const withForged = await fetch(`${proxyUrl}/keys/${RESOURCE}/${KID}`, {
      headers: { cookie: `${SESSION_COOKIE}=${forged}` },
    });
    expect(withForged.status).toBe(403);
    expect((await login('wrong-password')).status).toBe(401);
    const cookie = `${SESSION_COOKIE}=${await sessionCookie()}`;
    const unknown = await fetch(`${proxyUrl}/keys/${RESOURCE}/${crypto.randomUUID()}`, { headers: { cookie } });
    expect(unknown.status).toBe(404);
  });

  it('lets hls.js in Chromium play past 2 s with the session cookie', async () => {
    await browser.context.addCookies([{ name: SESSION_COOKIE, value: await sessionCookie(), url: proxyUrl }]);
    const before = keyAnswers(200);
    const outcome = await play(browser.context, `${proxyUrl}/player.html`, `${cdn.baseUrl}/vod/index.m3u8`);
    expect(outcome.fatal).toBeNull();
    expect(outcome.currentTime).toBeGreaterThan(2);
    expect(keyAnswers(200)).toBeGreaterThan(before);
  });

  it('cannot play without the cookie: the proxy answers 403', async () => {
    await browser.context.clearCookies();
    const before = keyAnswers(403);
    const outcome = await play(browser.context, `${proxyUrl}/player.html`, `${cdn.baseUrl}/vod/index.m3u8`);
    expect(outcome.fatal).toMatch(/key/i);
    expect(outcome.currentTime).toBe(0);
    expect(keyAnswers(403)).toBeGreaterThan(before);
  });
});
