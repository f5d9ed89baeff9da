import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import serverless from 'serverless-http';
import { createApp, type AppDeps } from '../../src/compose/app';
import { buildDeps, localBackends } from '../../src/compose/services';
import { loadConfig } from '../../src/config';
import { createLogger, redactSecrets } from '../../src/logger';
import { akamaiAclToken, akamaiUrlToken, type AkamaiEdgeAuthOptions } from '../helpers/akamai-edgeauth';
import { restApiEvent } from '../helpers/api-gateway-event';
import { binaryParser as binary } from '../helpers/binary';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp } from '../helpers/test-app';

// EdgeAuth tokens made by Akamai's generator (akamai-edgeauth) and playback tokens in a cookie, on a real
// app (SQLite, production logger at trace): /keys and Clear Key, the EdgeAuth key's tenant only, and no
// token or hmac in any log line, audit record or answer.

const KEY = crypto.randomBytes(16).toString('hex');
const OLD_KEY = crypto.randomBytes(16).toString('hex');
const SIGNING = crypto.randomBytes(32);
const COOKIE = 'kp_play';

let app: Express;
let deps: AppDeps;
let dataDir: string;
const logLines: string[] = [];
const answers: string[] = [];
const secrets = new Set<string>();
let acme: { resourceId: string; kid: string; key: Buffer };
let other: { resourceId: string; kid: string };

const now = () => Math.floor(Date.now() / 1000);
function edge(acl: string | string[], over: Partial<AkamaiEdgeAuthOptions> = {}): string {
  const token = akamaiAclToken({ key: KEY, startTime: now() - 5, endTime: now() + 300, ...over }, acl);
  secrets.add(token);
  secrets.add(token.slice(token.indexOf('hmac=') + 5));
  return token;
}

/** An HS256 playback token built with node:crypto (independent of the code under test). */
function playbackToken(resourceId: string, tenant: string): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = {
    sub: resourceId,
    aud: 'keyplane-playback',
    jti: crypto.randomUUID(),
    iat: now(),
    exp: now() + 60,
    ten: tenant,
  };
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(claims)}`;
  const token = `${input}.${crypto.createHmac('sha256', SIGNING).update(input).digest('base64url')}`;
  secrets.add(token);
  return token;
}

async function send(req: request.Test): Promise<request.Response> {
  const res = await req.buffer(true).parse(binary);
  const body = Buffer.isBuffer(res.body) ? res.body.toString('latin1') : String(res.text);
  answers.push(`${res.status} ${JSON.stringify(res.headers)} ${body}`);
  return res;
}
const json = (res: request.Response) => JSON.parse((res.body as Buffer).toString('utf8'));

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-edgeauth-'));
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_PUBLIC_URL: 'http://keys.test',
    KEYPLANE_LOG_LEVEL: 'trace',
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SIGNING.toString('base64')}`,
    KEYPLANE_TOKEN_COOKIE: COOKIE,
    KEYPLANE_EDGEAUTH_KEY: KEY,
    KEYPLANE_EDGEAUTH_TRANSITION_KEY: OLD_KEY,
    KEYPLANE_EDGEAUTH_TENANT: 'acme',
    KEYPLANE_DELIVERY_ALLOW_ORIGINS: 'https://player.example',
  });
  deps = buildDeps(config, localBackends(config), {
    logger: createLogger('trace', { write: (l: string) => void logLines.push(l) }),
  });
  app = createApp(deps);
  const a = await deps.staticKeys.create({ resourceId: 'acme-film' }, 'acme');
  acme = { resourceId: 'acme-film', kid: a.kid, key: a.key };
  const o = await deps.staticKeys.create({ resourceId: 'default-film' }, 'default');
  other = { resourceId: 'default-film', kid: o.kid };
});
afterAll(async () => {
  await deps.store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const keysPath = (r: { resourceId: string; kid: string }) => `/keys/${r.resourceId}/${r.kid}`;

describe('EdgeAuth tokens on GET /keys', () => {
  it('opens the key with the token in __token__, hdnts (encoded) or a cookie', async () => {
    const token = edge('/keys/acme-film/*');
    const byQuery = await send(request(app).get(`${keysPath(acme)}?__token__=${token}`));
    expect(byQuery.status).toBe(200);
    expect(byQuery.body).toEqual(acme.key);
    expect(byQuery.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', byQuery);
    const byHdnts = await send(request(app).get(`${keysPath(acme)}?hdnts=${encodeURIComponent(token)}`));
    expect(byHdnts.body).toEqual(acme.key);
    const byCookie = await send(request(app).get(keysPath(acme)).set('Cookie', `lang=en; __token__=${token}`));
    expect(byCookie.body).toEqual(acme.key);
  });

  it('accepts a transition-key token, an !-list ACL and a URL token', async () => {
    const mine = edge('/keys/*', { ip: '127.0.0.1', sessionId: 'viewer-1' });
    expect((await send(request(app).get(`${keysPath(acme)}?__token__=${mine}`))).status).toBe(200);
    const old = edge('/keys/*', { key: OLD_KEY });
    expect((await send(request(app).get(`${keysPath(acme)}?__token__=${old}`))).status).toBe(200);
    const list = edge(['/vod/*', `/keys/acme-*/${acme.kid}`]);
    expect((await send(request(app).get(`${keysPath(acme)}?__token__=${list}`))).status).toBe(200);
    const url = akamaiUrlToken({ key: KEY, endTime: now() + 60 }, keysPath(acme));
    secrets.add(url);
    expect((await send(request(app).get(keysPath(acme)).set('Cookie', `__token__=${url}`))).status).toBe(200);
  });

  it('never opens another tenant, even with ACL /*', async () => {
    const res = await send(request(app).get(`${keysPath(other)}?__token__=${edge('/*')}`));
    expect(res.status).toBe(403);
    expect(json(res)).toMatchObject({ error: 'forbidden', reason: 'resource_not_yours' });
  });

  it.each([
    ['expired', () => edge('/*', { startTime: now() - 600, endTime: now() - 10 }), 410, undefined],
    ['tampered', () => edge('/keys/other/*').replace('acl=/keys/other/*', 'acl=/*'), 403, 'edgeauth_hmac_mismatch'],
    ['another key', () => edge('/*', { key: crypto.randomBytes(16).toString('hex') }), 403, 'edgeauth_hmac_mismatch'],
    ['outside its ACL', () => edge('/keys/another-film/*'), 403, 'edgeauth_acl_denied'],
    ['for another IP', () => edge('/*', { ip: '203.0.113.77' }), 403, 'edgeauth_ip_mismatch'],
    [
      'not valid yet',
      () => edge('/*', { startTime: now() + 3600, endTime: now() + 7200 }),
      403,
      'edgeauth_not_yet_valid',
    ],
    ['SHA1 when SHA256 is configured', () => edge('/*', { algorithm: 'sha1' }), 403, 'edgeauth_hmac_mismatch'],
    ['malformed', () => 'exp=soon~hmac=00', 401, undefined],
  ])('refuses a token %s', async (_name, make, status, reason) => {
    const res = await send(request(app).get(`${keysPath(acme)}?__token__=${make()}`));
    expect(res.status).toBe(status);
    if (reason) expect(json(res).reason).toBe(reason);
    expect(json(res).message).toMatch(/EdgeAuth/);
  });

  it('refuses a path that leaves the ACL by dot segments or encoded slashes', async () => {
    const token = edge('/keys/acme-film/*');
    const sneaky = `/keys/acme-film/..%2F${other.resourceId}/${other.kid}`;
    expect((await send(request(app).get(`${sneaky}?__token__=${token}`))).status).toBe(403);
  });

  it.each([
    [
      'a query and a cookie',
      (t: string) =>
        request(app)
          .get(`${keysPath(acme)}?__token__=${t}`)
          .set('Cookie', `hdnts=${t}`),
    ],
    [
      'an API key',
      (t: string) =>
        request(app)
          .get(`${keysPath(acme)}?__token__=${t}`)
          .set('x-api-key', ADMIN_KEY),
    ],
    [
      'a playback token',
      (t: string) =>
        request(app).get(`${keysPath(acme)}?__token__=${t}&token=${playbackToken(acme.resourceId, 'acme')}`),
    ],
  ])('answers 401 for an EdgeAuth token with %s', async (_name, build) => {
    const res = await send(build(edge('/*')));
    expect(res.status).toBe(401);
  });

  it('gives no role: admin routes stay closed', async () => {
    expect(
      (
        await send(
          request(app)
            .get('/api-keys')
            .query({ __token__: edge('/*') }),
        )
      ).status,
    ).toBe(403);
  });

  it('opens Clear Key licenses when the ACL covers /clearkey/license', async () => {
    const kidB64 = Buffer.from(acme.kid.replace(/-/g, ''), 'hex').toString('base64url');
    const body = JSON.stringify({ kids: [kidB64], type: 'temporary' });
    const ok = await send(
      request(app)
        .post(`/clearkey/license?__token__=${edge('/clearkey/*')}`)
        .type('json')
        .send(body),
    );
    expect(ok.status).toBe(200);
    const denied = await send(
      request(app)
        .post(`/clearkey/license?__token__=${edge('/keys/*')}`)
        .type('json')
        .send(body),
    );
    expect(json(denied).reason).toBe('edgeauth_acl_denied');
  });
});

describe('playback tokens in the KEYPLANE_TOKEN_COOKIE cookie', () => {
  it('opens the key from the cookie, and two transports at once are a 401', async () => {
    const token = playbackToken(acme.resourceId, 'acme');
    const ok = await send(request(app).get(keysPath(acme)).set('Cookie', `${COOKIE}=${token}`));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual(acme.key);
    const both = await send(
      request(app).get(keysPath(acme)).set('Cookie', `${COOKIE}=${token}`).set('Authorization', `Bearer ${token}`),
    );
    expect(both.status).toBe(401);
    const path = await send(
      request(app)
        .get(`/playback/${token}${keysPath(acme)}`)
        .set('Cookie', `${COOKIE}=${token}`),
    );
    expect(path.status).toBe(401);
    const wrong = await send(request(app).get(keysPath(other)).set('Cookie', `${COOKIE}=${token}`));
    expect(wrong.status).toBe(403);
  });
});

describe('cross-site players sending cookies', () => {
  it('lets an explicitly allowed origin read the key with credentials, and refuses other origins', async () => {
    const token = playbackToken(acme.resourceId, 'acme');
    const allowed = await send(
      request(app).get(keysPath(acme)).set('Origin', 'https://player.example').set('Cookie', `${COOKIE}=${token}`),
    );
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://player.example');
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    expect(allowed.headers.vary).toMatch(/Origin/);
    const edgeCookie = await send(
      request(app)
        .get(keysPath(acme))
        .set('Origin', 'https://player.example')
        .set('Cookie', `__token__=${edge('/*')}`),
    );
    expect(edgeCookie.headers['access-control-allow-credentials']).toBe('true');
    const foreign = await send(
      request(app).get(keysPath(acme)).set('Origin', 'https://evil.example').set('Cookie', `${COOKIE}=${token}`),
    );
    expect(foreign.status).toBe(403);
    expect(json(foreign).reason).toBe('origin_denied');
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    expect(foreign.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('no token in logs, audit records or answers', () => {
  it('finds no EdgeAuth token, hmac or playback token anywhere', async () => {
    const audit = await request(app).get('/audit').query({ limit: 500 }).set('x-api-key', ADMIN_KEY);
    expect(audit.status).toBe(200);
    const records = JSON.stringify(audit.body);
    expect(records).toContain('edgeauth:#');
    expect(records).toContain('edgeauth:viewer-1');
    const logs = logLines.join('');
    // The access log names routes, not URLs; free text that quotes a URL is scrubbed by shape.
    const quoted = `GET /keys/a/b?__token__=${edge('/*')}&hdnts=${encodeURIComponent(edge('/*'))}`;
    expect(redactSecrets(quoted)).toBe('GET /keys/a/b?__token__=[redacted]&hdnts=[redacted]');
    expect(logLines.length).toBeGreaterThan(20);
    const places: [string, string][] = [
      ['log', logs],
      ['audit', records],
      ['answer', answers.join('\n')],
    ];
    for (const secret of secrets) {
      for (const [where, text] of places) {
        expect(text.includes(secret) ? `${secret.slice(0, 16)}… in ${where}` : 'absent').toBe('absent');
      }
    }
  });
});

describe('failed-auth rate limit (KEYPLANE_RATE_LIMIT_FAILED_AUTH=5)', () => {
  it('counts forged EdgeAuth tokens, not refusals of genuine ones', async () => {
    const t = await makeTestApp({ KEYPLANE_EDGEAUTH_KEY: KEY, KEYPLANE_RATE_LIMIT_FAILED_AUTH: '5' });
    try {
      const { kid } = await t.deps.staticKeys.create({ resourceId: 'rl-film' }, 'default');
      const path = `/keys/rl-film/${kid}`;
      // Genuine tokens refused for their ACL do not count: a player cannot lock itself out.
      for (let i = 0; i < 6; i++) {
        expect((await request(t.app).get(`${path}?__token__=${edge('/keys/other/*')}`)).status).toBe(403);
      }
      const forged = () => edge('/*', { key: crypto.randomBytes(16).toString('hex') });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await request(t.app).get(`${path}?__token__=${forged()}`)).status);
      expect(statuses).toEqual([403, 403, 403, 403, 403, 429, 429]);
      expect((await request(t.app).get(`${path}?__token__=${edge('/*')}`)).status).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('behind API Gateway (serverless-http, as src/lambda.ts wraps the app)', () => {
  it('reads the EdgeAuth token from queryStringParameters (re-encoded by serverless-http) and from the Cookie header', async () => {
    const wrapped = serverless(app, { binary: ['application/octet-stream'] });
    const call = async (query: Record<string, string> | null, headers: Record<string, string> = {}) => {
      const event = { ...restApiEvent({ method: 'GET', path: keysPath(acme), headers }), queryStringParameters: query };
      return (await wrapped(event, {})) as { statusCode: number; body: string; isBase64Encoded: boolean };
    };
    const token = edge('/keys/acme-film/*');
    const byQuery = await call({ __token__: token });
    expect(byQuery.statusCode).toBe(200);
    expect(Buffer.from(byQuery.body, byQuery.isBase64Encoded ? 'base64' : 'utf8')).toEqual(acme.key);
    expect((await call(null, { Cookie: `__token__=${token}` })).statusCode).toBe(200);
    expect((await call({ hdnts: edge('/keys/other/*') })).statusCode).toBe(403);
  });
});
