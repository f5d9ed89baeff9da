import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { createApp, type AppDeps } from '../../src/compose/app';
import { secureLinkToken } from '../../src/auth/secure-token';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { buildDeps, localBackends } from '../../src/compose/services';
import { fixture } from '../helpers/fixtures';
import { duplicateKeys } from '../helpers/json-keys';
import { ADMIN_KEY } from '../helpers/test-app';

// The production logger at trace, and every response, Location header and origin request of a run full
// of credentials (tokens on every transport, secure links, API keys, signing secrets) and refusals: none
// of those credentials may appear in any of them, and every log line has each key once.

const TOKEN_SECRET = crypto.randomBytes(32);
const LINK = { clientId: 'cms-1', secret: 'secure-link-secret-0123456789', algorithm: 'hmac-sha256' as const };
const RESOURCE = 'several-keys-1';
const KID_A = '11111111-2222-4333-8444-555555555555';

let app: Express;
let deps: AppDeps;
let dataDir: string;
let origin: http.Server;
const logLines: string[] = [];
const originRequests: string[] = [];
const answers: string[] = [];
const secrets = new Set<string>([ADMIN_KEY, TOKEN_SECRET.toString('base64'), LINK.secret]);
let keyserver = '';

function playbackToken(over: object = {}): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: RESOURCE,
    aud: 'keyplane-playback',
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 60,
    ...over,
  };
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(claims)}`;
  const token = `${input}.${crypto.createHmac('sha256', TOKEN_SECRET).update(input).digest('base64url')}`;
  secrets.add(token);
  secrets.add(token.split('.')[2] as string);
  return token;
}

async function send(req: request.Test): Promise<request.Response> {
  const res = await req;
  // A rewritten playlist carries the player's own token in its key URLs by design: only its headers count.
  const playlist = res.status === 200 && String(res.headers['content-type']).includes('mpegurl');
  answers.push(`${res.status} ${JSON.stringify(res.headers)} ${playlist ? '' : (res.text ?? '')}`);
  return res;
}

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    originRequests.push(`${req.url} ${JSON.stringify(req.headers)}`);
    if ((req.url ?? '').includes('away')) return res.writeHead(302, { location: 'http://169.254.169.254/x' }).end();
    res.end(`#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="https://k.example/keys/${RESOURCE}/${KID_A}"\n#EXTINF:1,\na.ts\n`);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-echo-'));
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_PUBLIC_URL: 'http://keys.test',
    KEYPLANE_LOG_LEVEL: 'trace',
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${TOKEN_SECRET.toString('base64')}`,
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: LINK.clientId,
    KEYPLANE_SECURE_TOKEN_SECRET: LINK.secret,
    KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/vod/{resourceId}/`,
  });
  const logger = createLogger('trace', { write: (line: string) => void logLines.push(line) });
  deps = buildDeps(config, localBackends(config), { logger });
  app = createApp(deps);
  keyserver = (await deps.apiKeys.create('proxy', ['keyserver'])).key;
  secrets.add(keyserver);
  const encoder = (await deps.apiKeys.create('encoder', ['encoder'])).key;
  secrets.add(encoder);
  await request(app)
    .post('/copyProtection')
    .set({ 'x-api-key': encoder, 'Content-Type': 'application/xml' })
    .send(fixture('v1/hls-several-keys.xml'));
});
afterAll(async () => {
  await deps.store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

describe('no credential echoed in bodies, headers, logs or origin requests', () => {
  it('runs every transport, good and bad', async () => {
    const tok = playbackToken();
    const expires = Math.floor(Date.now() / 1000) + 60;
    const linkToken = secureLinkToken(LINK, RESOURCE, expires);
    secrets.add(linkToken);
    const keys = `/keys/${RESOURCE}/${KID_A}`;
    const cases: [request.Test, number][] = [
      [request(app).get(keys).set('x-api-key', keyserver), 200],
      [request(app).get(keys).set('Authorization', `Bearer ${keyserver}`), 200],
      [request(app).get(keys).set('x-api-key', `${keyserver}x`), 401],
      [request(app).get(keys).set('Authorization', `Bearer ${tok}`), 200],
      [request(app).get(`${keys}?token=${tok}`), 200],
      [request(app).get(`${keys}?token=${tok}=`), 401],
      [request(app).get(`${keys}?token=${tok}&token=${tok}`), 401],
      [request(app).get(keys).set('Authorization', `Bearer ${tok}.x`), 401],
      [request(app).get(`/playback/${tok}/keys/${RESOURCE}/${KID_A}`), 200],
      [request(app).get(`/playback/${tok}%20/keys/${RESOURCE}/${KID_A}`), 401],
      [request(app).get(`/playback/${tok}/keys/${RESOURCE}/${KID_A}?token=${tok}`), 401],
      [request(app).get(`/playback/${playbackToken({ sub: 'other' })}/keys/${RESOURCE}/${KID_A}`), 403],
      [request(app).get(`/playback/${playbackToken({ exp: 1000, iat: 900 })}/keys/${RESOURCE}/${KID_A}`), 410],
      [
        request(app).get(`/playback/${playbackToken({ iat: 4102444800, exp: 4102444860 })}/keys/${RESOURCE}/${KID_A}`),
        401,
      ],
      [request(app).get(`/playback/${tok}/keys/${RESOURCE}/not-a-kid`), 400],
      [request(app).get(`/playback/${tok}/nothing-here`).set('x-api-key', keyserver), 404],
      [request(app).get(`/playback/${tok}/hls/${RESOURCE}/index.m3u8?v=1`).set('Cookie', 'session=1'), 200],
      [request(app).get(`/playback/${tok}/hls/${RESOURCE}/a.ts?v=1`), 302],
      [request(app).get(`/playback/${tok}/hls/${RESOURCE}/away.m3u8`), 502],
      [request(app).get(`/secure/${LINK.clientId}_${RESOURCE}/${linkToken}/${expires}/keys/${KID_A}`), 200],
      [request(app).get(`/secure/${LINK.clientId}_${RESOURCE}/${linkToken}x/${expires}/keys/${KID_A}`), 403],
      [
        request(app)
          .get(`/secure/${LINK.clientId}_${RESOURCE}/${linkToken}/${expires}/nothing`)
          .set('x-api-key', keyserver),
        404,
      ],
      [request(app).get('/api-keys').set('x-api-key', ADMIN_KEY), 200],
      [request(app).post('/playback-tokens').set('x-api-key', keyserver).send({ resourceId: RESOURCE }), 403],
    ];
    for (const [req, status] of cases) expect((await send(req)).status).toBe(status);
    const minted = await request(app)
      .post('/playback-tokens')
      .set('x-api-key', ADMIN_KEY)
      .send({ resourceId: RESOURCE });
    expect(minted.status).toBe(201);
  });

  it('finds none of the credentials anywhere but where they were sent', () => {
    const logs = logLines.join('');
    expect(logs).toContain('"msg":"request rejected"');
    expect(logs).toContain('"msg":"request"');
    const places: [string, string][] = [
      ['the log', logs],
      ['a response', answers.join('\n')],
      ['an origin request', originRequests.join('\n')],
    ];
    expect(originRequests.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      for (const [where, text] of places) {
        expect(text.includes(secret) ? `${secret.slice(0, 12)}… in ${where}` : 'absent').toBe('absent');
      }
    }
    expect(answers.join('\n')).not.toContain('169.254.169.254');
  });

  it('writes each key once per log line (one msg; the refusal text under "error")', () => {
    expect(logLines.length).toBeGreaterThan(20);
    for (const line of logLines) expect(duplicateKeys(line.trim())).toEqual([]);
    const refusal = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request rejected');
    expect(refusal).toMatchObject({ msg: 'request rejected', error: expect.any(String), status: expect.any(Number) });
  });
});
