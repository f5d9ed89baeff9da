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
import { binaryParser as binary } from '../helpers/binary';
import { responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { ADMIN_KEY } from '../helpers/test-app';

// A representative run (SPEKE v1 and v2, static keys, every delivery route, the playlist route, and the
// usual refusals) with the logger at trace: no key issued during it may appear in the captured log or in
// the audit trail, in base64, base64url, or hex of either case.

const TOKEN_SECRET = crypto.randomBytes(32);
const LINK = { clientId: 'cms-1', secret: 'secure-link-secret-0123456789', algorithm: 'hmac-sha256' as const };
const SEVERAL = 'several-keys-1';
const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

let app: Express;
let deps: AppDeps;
let dataDir: string;
let origin: http.Server;
const logText: string[] = [];
const issued: Buffer[] = [];
let encoder = '';
let encoder2 = '';
let keyserver = '';

function forms(key: Buffer): string[] {
  return [
    key.toString('base64'),
    key.toString('base64').replace(/=+$/, ''),
    key.toString('base64url'),
    key.toString('hex'),
    key.toString('hex').toUpperCase(),
  ];
}

function playbackToken(resourceId: string, exp = Math.floor(Date.now() / 1000) + 60): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.min(exp - 1, Math.floor(Date.now() / 1000));
  const claims = { sub: resourceId, aud: 'keyplane-playback', jti: crypto.randomUUID(), iat, exp };
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(claims)}`;
  return `${input}.${crypto.createHmac('sha256', TOKEN_SECRET).update(input).digest('base64url')}`;
}

const spekeV1 = (name: string, key = encoder) =>
  request(app).post('/copyProtection').set('x-api-key', key).set('Content-Type', 'application/xml').send(fixture(name));

async function keyBytes(req: request.Test): Promise<request.Response> {
  const res = await req.buffer(true).parse(binary);
  if (res.status === 200) issued.push(res.body as Buffer);
  return res;
}

beforeAll(async () => {
  origin = http.createServer((_req, res) =>
    res.end(`#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="https://k.example/keys/${SEVERAL}/${KID_A}"\n#EXTINF:1,\na.ts\n`),
  );
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-logscan-'));
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
  // The production logger (redaction included), so what is tested is what runs.
  const logger = createLogger('trace', { write: (line: string) => void logText.push(line) });
  deps = buildDeps(config, localBackends(config), { logger });
  app = createApp(deps);
  encoder = (await deps.apiKeys.create('encoder-1', ['encoder'])).key;
  encoder2 = (await deps.apiKeys.create('encoder-2', ['encoder'])).key;
  keyserver = (await deps.apiKeys.create('proxy', ['keyserver'])).key;
});
afterAll(async () => {
  await deps.store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
});

describe('no key material in logs or audit records', () => {
  it('issues keys through SPEKE v1 and v2 and static keys', async () => {
    for (const name of ['v1/hls-several-keys.xml', 'v1/hls-single-key.xml', 'v1/hls-explicit-iv.xml']) {
      const res = await spekeV1(name);
      expect(res.status).toBe(200);
      issued.push(...[...responseKeys(res.text).values()].map((k) => k.key));
    }
    const v2 = await request(app)
      .post('/copyProtection')
      .set({ 'x-api-key': encoder, 'Content-Type': 'application/xml', 'X-Speke-Version': '2.0' })
      .send(fixture('v2/valid-2.0/v1-a1--wv-pr-fp.xml'));
    expect(v2.status).toBe(200);
    issued.push(...[...responseKeys(v2.text).values()].map((k) => k.key));
    const generated = await request(app).post('/static-keys').set('x-api-key', ADMIN_KEY).send({ resourceId: 'st-1' });
    const imported = crypto.randomBytes(16);
    await request(app)
      .post('/static-keys')
      .set('x-api-key', ADMIN_KEY)
      .send({ resourceId: 'st-2', keyHex: imported.toString('hex') });
    issued.push(Buffer.from(generated.body.StaticKeyValue as string, 'hex'), imported);
    expect(issued.length).toBeGreaterThanOrEqual(7);
  });

  it('delivers them on every route and refuses bad requests', async () => {
    const tok = playbackToken(SEVERAL);
    await keyBytes(request(app).get(`/keys/${SEVERAL}/${KID_A}`).set('x-api-key', keyserver));
    await keyBytes(request(app).get(`/keys/${SEVERAL}/${KID_B}`).set('Authorization', `Bearer ${tok}`));
    await keyBytes(request(app).get(`/keys/${SEVERAL}/${KID_B}?token=${tok}`));
    await keyBytes(request(app).get(`/playback/${tok}/keys/${SEVERAL}/${KID_A}`));
    const expires = Math.floor(Date.now() / 1000) + 60;
    const link = `/secure/${LINK.clientId}_${SEVERAL}/${secureLinkToken(LINK, SEVERAL, expires)}/${expires}/keys/${KID_B}`;
    expect((await keyBytes(request(app).get(link))).status).toBe(200);
    const b64kid = Buffer.from(KID_A.replace(/-/g, ''), 'hex').toString('base64url');
    const license = await request(app)
      .post('/clearkey/license')
      .set('x-api-key', keyserver)
      .send({ kids: [b64kid] });
    expect(license.status).toBe(200);
    issued.push(...(license.body.keys as { k: string }[]).map((k) => Buffer.from(k.k, 'base64url')));
    expect((await request(app).get(`/playback/${tok}/hls/${SEVERAL}/index.m3u8`)).status).toBe(200);
    expect((await request(app).get('/static-keys/st-1').set('x-api-key', ADMIN_KEY)).status).toBe(200);

    const refusals: [request.Test, number][] = [
      [request(app).get(`/keys/${SEVERAL}/${KID_A}`), 401],
      [
        request(app)
          .get(`/keys/${SEVERAL}/${KID_A}`)
          .set('Authorization', `Bearer ${playbackToken('st-1')}`),
        403,
      ],
      [request(app).get(`/playback/${playbackToken(SEVERAL, 1000)}/keys/${SEVERAL}/${KID_A}`), 410],
      [request(app).get(`/keys/${SEVERAL}/${crypto.randomUUID()}`).set('x-api-key', keyserver), 404],
      [request(app).get(`/keys/${SEVERAL}/not-a-kid`).set('x-api-key', keyserver), 400],
      [request(app).get(`/keys/st-1/${KID_A}`).set('x-api-key', keyserver), 404],
      [spekeV1('v1/hls-several-keys.xml', encoder2), 409],
      [spekeV1('v1/rejected/bad-kid.xml'), 400],
      [
        request(app)
          .post('/static-keys')
          .set('x-api-key', ADMIN_KEY)
          .send({ resourceId: 'st-2', keyHex: crypto.randomBytes(16).toString('hex') }),
        409,
      ],
    ];
    for (const [req, status] of refusals) expect((await req).status).toBe(status);
  });

  it('finds none of them in the trace log or the audit trail', async () => {
    const logs = logText.join('');
    expect(logs).toContain('"msg":"request"');
    expect(logs).toContain('"msg":"request rejected"');
    const audit = JSON.stringify(await deps.store.audit.query({ limit: 10_000 }));
    expect(JSON.parse(audit).records.length).toBeGreaterThan(20);
    const unique = new Map(issued.map((k) => [k.toString('hex'), k]));
    expect(unique.size).toBeGreaterThanOrEqual(7);
    for (const key of unique.values()) {
      for (const form of forms(key)) {
        expect(logs.includes(form) ? `key ${key.toString('hex')} in the log as ${form}` : 'absent').toBe('absent');
        expect(audit.includes(form) ? `key ${key.toString('hex')} in the audit as ${form}` : 'absent').toBe('absent');
      }
    }
  });
});
