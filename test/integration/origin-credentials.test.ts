import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp, type AppDeps } from '../../src/compose/app';
import { buildDeps, localBackends } from '../../src/compose/services';
import { loadConfig } from '../../src/config';
import { akamaiAclToken } from '../helpers/akamai-edgeauth';
import { listen, type LiveApp } from '../helpers/live-app';

// A deployment that renames the EdgeAuth token (KEYPLANE_EDGEAUTH_TOKEN_NAME): players behind a CDN send
// it on every request, and the session routes must not pass it on to the origin, where its logs (and any
// CDN between) would hold a credential that works on Keyplane until it expires.

const ADMIN = 'test-admin-key-0123456789abcdef';
const RESOURCE = 'movie-1';
const EDGE_KEY = crypto.randomBytes(32).toString('hex');
const seen: string[] = [];
let origin: http.Server;
let app: LiveApp;
let deps: AppDeps;
let dataDir: string;
let config: ReturnType<typeof loadConfig>;

beforeAll(async () => {
  const playlist = Buffer.from('#EXTM3U\n#EXTINF:1,\ns0.ts\n#EXT-X-ENDLIST\n');
  origin = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'Content-Length': playlist.length }).end(playlist);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-origin-cred-'));
  config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN,
    KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/vod/{resourceId}/`,
    KEYPLANE_EDGEAUTH_KEY: EDGE_KEY,
    KEYPLANE_EDGEAUTH_TOKEN_NAME: 'edgetoken',
  });
  deps = buildDeps(config, localBackends(config), { logger: pino({ level: 'silent' }) });
  app = await listen(createApp(deps));
  await fetch(`${app.baseUrl}/static-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
});

afterAll(async () => {
  await app?.close();
  await deps?.store.close();
  origin?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('never forwards the configured EdgeAuth token to the origin', async () => {
  expect(config.origin?.credentialParams).toEqual(['edgetoken']);
  const tok = akamaiAclToken({ key: EDGE_KEY, windowSeconds: 300 }, '/*');
  const opened = await fetch(`${app.baseUrl}/sessions/hls/${RESOURCE}/index.m3u8?edgetoken=${tok}`);
  expect(opened.status).toBe(200);
  const line = (await opened.text()).split('\n').find((l) => !l.startsWith('#') && l.includes('/hls/')) as string;
  const segUri = `${app.baseUrl}${new URL(line).pathname}${new URL(line).search}`;
  // A player/CDN that carries the token on every request (as Akamai setups do):
  const seg = await fetch(`${segUri}&edgetoken=${tok}`);
  await seg.arrayBuffer();
  expect(seg.status).toBe(200);
  expect(seen.length).toBeGreaterThanOrEqual(2);
  expect(seen.join('\n')).not.toMatch(/hmac|edgetoken/);
});
