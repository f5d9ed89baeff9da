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

// The session entry takes every player credential `/keys` takes, through the same authenticators: a playback
// token in a cookie, and an Akamai EdgeAuth token (made by Akamai's generator) whose ACL covers the entry.

const ADMIN = 'test-admin-key-0123456789abcdef';
const RESOURCE = 'movie-1';
const EDGE_KEY = crypto.randomBytes(32).toString('hex');
let origin: http.Server;
let app: LiveApp;
let deps: AppDeps;
let dataDir: string;
const entry = () => `${app.baseUrl}/sessions/hls/${RESOURCE}/index.m3u8`;

beforeAll(async () => {
  const playlist = Buffer.from('#EXTM3U\n#EXTINF:1,\ns0.ts\n#EXT-X-ENDLIST\n');
  origin = http.createServer((_req, res) => res.writeHead(200, { 'Content-Length': playlist.length }).end(playlist));
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-session-creds-'));
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN,
    KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/vod/{resourceId}/`,
    KEYPLANE_EDGEAUTH_KEY: EDGE_KEY,
  });
  deps = buildDeps(config, localBackends(config), { logger: pino({ level: 'silent' }) });
  app = await listen(createApp(deps));
  const created = await fetch(`${app.baseUrl}/static-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
  expect(created.status).toBe(201);
});

afterAll(async () => {
  await app?.close();
  await deps?.store.close();
  origin?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('session entry credentials', () => {
  it('opens a session with a playback token in the cookie', async () => {
    const minted = await fetch(`${app.baseUrl}/playback-tokens`, {
      method: 'POST',
      headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ resourceId: RESOURCE, ttlSeconds: 60 }),
    });
    const { token } = (await minted.json()) as { token: string };
    const res = await fetch(entry(), { headers: { cookie: `keyplane_token=${token}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('#EXT-X-KEY:METHOD=AES-128');
  });

  it('opens a session with an EdgeAuth token whose ACL covers the entry; refuses one for other paths', async () => {
    const covering = akamaiAclToken({ key: EDGE_KEY, windowSeconds: 60 }, `/sessions/hls/${RESOURCE}/*`);
    const ok = await fetch(`${entry()}?__token__=${covering}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('#EXT-X-KEY:METHOD=AES-128');
    const cookie = await fetch(entry(), { headers: { cookie: `__token__=${covering}` } });
    expect(cookie.status).toBe(200);
    const elsewhere = akamaiAclToken({ key: EDGE_KEY, windowSeconds: 60 }, `/keys/${RESOURCE}/*`);
    expect((await fetch(`${entry()}?__token__=${elsewhere}`)).status).toBe(403);
  });
});
