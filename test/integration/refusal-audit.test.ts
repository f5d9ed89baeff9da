import crypto from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { AuditRecord } from '../../src/audit/audit-record';
import { MAX_SAMPLED_PER_WINDOW } from '../../src/http/refusal-sampler';
import { LoopbackClient } from '../helpers/http-client';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const SECRET = crypto.randomBytes(32);
const CLIENT = '2675';
const LINK_SECRET = 'refusal-audit-secret-0123';
const RESOURCE = 'refusal-vod-1';

function jwt(payload: object): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(payload)}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
function token(over: object = {}): { token: string; jti: string } {
  const jti = crypto.randomUUID();
  return { token: jwt({ sub: RESOURCE, aud: 'keyplane-playback', jti, iat: now(), exp: now() + 60, ...over }), jti };
}
function link(expires: number, sig?: string): string {
  const digest =
    sig ?? crypto.createHmac('sha256', LINK_SECRET).update(`${CLIENT}_${RESOURCE}_${expires}_`).digest('base64url');
  return `/secure/${CLIENT}_${RESOURCE}/${digest}/${expires}/keys`;
}
const apiKeyId = (key: string) => `apikey:${key.split('_')[1]}`;
const b64Kid = (kid: string) => Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url');

let t: TestApp;
let kid: string;
let n = 0;
const ip = () => `198.51.100.${(n += 1)}`;

/**
 * Refusals are sampled per wall-clock minute (REFUSAL_WINDOW_MS): a test counting records waits out the
 * last seconds of a minute, so no window starts again in the middle of its requests.
 */
async function awayFromMinuteEdge(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
}

/** Every audit record written so far. */
async function allRecords(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: AuditRecord['time'] | undefined;
  let page = await t.deps.store.audit.query({ limit: 1000 });
  out.push(...page.records);
  while (page.next) {
    cursor = page.next.time;
    page = await t.deps.store.audit.query({ limit: 1000, cursor: page.next });
    out.push(...page.records);
  }
  void cursor;
  return out;
}

/** The records written while `act` ran, for requests from `from`. */
async function recordsOf(from: string, act: () => Promise<unknown>): Promise<AuditRecord[]> {
  await act();
  return (await allRecords()).filter((r) => r.clientIp === from);
}

beforeAll(async () => {
  t = await makeTestApp({
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SECRET.toString('base64')}`,
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: CLIENT,
    KEYPLANE_SECURE_TOKEN_SECRET: LINK_SECRET,
    KEYPLANE_SECURE_TOKEN_ALGORITHM: 'hmac-sha256',
    KEYPLANE_ORIGIN_URL: 'http://127.0.0.1:9/vod/{resourceId}',
    KEYPLANE_TRUSTED_PROXIES: 'loopback',
    KEYPLANE_RATE_LIMIT_FAILED_AUTH: '3',
  });
  ({ kid } = await t.deps.staticKeys.create({ resourceId: RESOURCE }, 'default'));
});
afterAll(async () => {
  await t.close();
});

describe('every refusal on a delivery route is audited with its route, status, reason and principal', () => {
  const cases = (): Array<{
    name: string;
    send: (from: string) => request.Test;
    want: Partial<AuditRecord>;
  }> => {
    const other = token({ sub: 'other-vod' });
    const expired = token({ iat: now() - 120, exp: now() - 60 });
    const good = token();
    const unknown = crypto.randomUUID();
    const keysRoute = 'GET /keys/{resourceId}/{kid}';
    const pathRoute = 'GET /playback/{token}/keys/{resourceId}/{kid}';
    const secureRoute = 'GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}';
    const hlsRoute = 'GET /playback/{token}/hls/{resourceId}/{path}';
    const g = (path: string, from: string) => request(t.app).get(path).set('x-forwarded-for', from);
    return [
      {
        name: '/keys 401',
        send: (f) => g(`/keys/${RESOURCE}/${kid}`, f),
        want: { route: keysRoute, status: 401, reason: 'unauthorized' },
      },
      {
        name: '/keys 403 scope',
        send: (f) => g(`/keys/${RESOURCE}/${kid}`, f).set('Authorization', `Bearer ${other.token}`),
        want: { route: keysRoute, status: 403, reason: 'token_resource_mismatch', principal: `token:${other.jti}` },
      },
      {
        name: '/keys 404',
        send: (f) => g(`/keys/${RESOURCE}/${unknown}`, f).set('x-api-key', t.keyserverKey),
        want: { route: keysRoute, status: 404, reason: 'not_found', principal: apiKeyId(t.keyserverKey) },
      },
      {
        name: '/keys 410',
        send: (f) => g(`/keys/${RESOURCE}/${kid}?token=${expired.token}`, f),
        want: { route: keysRoute, status: 410, reason: 'gone', principal: `token:${expired.jti}` },
      },
      {
        name: '/keys 400 bad ID',
        send: (f) => g(`/keys/${RESOURCE}/not-a-kid`, f).set('x-api-key', t.keyserverKey),
        want: { route: keysRoute, status: 400, reason: 'bad_request', principal: apiKeyId(t.keyserverKey) },
      },
      {
        name: 'path token 401',
        send: (f) => g(`/playback/${good.token}x/keys/${RESOURCE}/${kid}`, f),
        want: { route: pathRoute, status: 401 },
      },
      {
        name: 'path token 403',
        send: (f) => g(`/playback/${other.token}/keys/${RESOURCE}/${kid}`, f),
        want: { route: pathRoute, status: 403, reason: 'token_resource_mismatch', principal: `token:${other.jti}` },
      },
      {
        name: 'path token 410',
        send: (f) => g(`/playback/${expired.token}/keys/${RESOURCE}/${kid}`, f),
        want: { route: pathRoute, status: 410, principal: `token:${expired.jti}` },
      },
      {
        name: 'path token 404',
        send: (f) => g(`/playback/${good.token}/keys/${RESOURCE}/${unknown}`, f),
        want: { route: pathRoute, status: 404, principal: `token:${good.jti}` },
      },
      {
        name: 'secure link 403',
        send: (f) => g(`${link(now() + 600, 'A'.repeat(43))}/${kid}`, f),
        // A link that did not verify names nobody (see the forged-credential test below).
        want: { route: secureRoute, status: 403, reason: 'secure_link_invalid' },
      },
      {
        name: 'secure link 410',
        send: (f) => g(`${link(now() - 10)}/${kid}`, f),
        want: { route: secureRoute, status: 410, principal: `secure-link:${CLIENT}` },
      },
      {
        name: 'clearkey 401 (no resource known)',
        send: (f) =>
          request(t.app)
            .post('/clearkey/license')
            .set('x-forwarded-for', f)
            .send({ kids: [b64Kid(kid)] }),
        want: { route: 'POST /clearkey/license', status: 401, resourceId: '-' },
      },
      {
        name: 'clearkey 403 scope',
        send: (f) =>
          request(t.app)
            .post('/clearkey/license')
            .set('x-forwarded-for', f)
            .set('Authorization', `Bearer ${token({ kids: [unknown] }).token}`)
            .send({ kids: [b64Kid(kid)] }),
        want: { route: 'POST /clearkey/license', status: 403, reason: 'token_kid_not_allowed' },
      },
      {
        name: 'playlist 401',
        send: (f) => g(`/playback/${good.token}x/hls/${RESOURCE}/index.m3u8`, f),
        want: { route: hlsRoute, status: 401, resourceId: RESOURCE },
      },
      {
        name: 'playlist 410',
        send: (f) => g(`/playback/${expired.token}/hls/${RESOURCE}/index.m3u8`, f),
        want: { route: hlsRoute, status: 410, principal: `token:${expired.jti}` },
      },
      {
        name: 'static key 401',
        send: (f) => g(`/static-keys/${RESOURCE}`, f),
        want: { route: 'GET /static-keys/{resourceId}', status: 401 },
      },
      {
        name: 'static key 403 role',
        send: (f) => g(`/static-keys/${RESOURCE}`, f).set('x-api-key', t.encoderKey),
        want: { route: 'GET /static-keys/{resourceId}', status: 403, principal: apiKeyId(t.encoderKey) },
      },
      {
        name: 'static key 404',
        send: (f) => g('/static-keys/no-such-vod', f).set('x-api-key', ADMIN_KEY),
        want: {
          route: 'GET /static-keys/{resourceId}',
          status: 404,
          principal: 'admin-key',
          resourceId: 'no-such-vod',
        },
      },
    ];
  };

  it('records one audit record per refusal, naming the principal once known', async () => {
    for (const c of cases()) {
      const from = ip();
      const records = await recordsOf(from, () => c.send(from));
      expect([c.name, records.length]).toEqual([c.name, 1]);
      expect([c.name, records[0]]).toMatchObject([c.name, { outcome: 'denied', ...c.want }]);
    }
  });

  it('records the 429 of the abuse limit on a delivery route', async () => {
    await awayFromMinuteEdge();
    const from = ip();
    let last: request.Response | undefined;
    const records = await recordsOf(from, async () => {
      for (let i = 0; i < 5; i += 1)
        last = await request(t.app).get(`/keys/${RESOURCE}/${kid}`).set('x-forwarded-for', from);
    });
    expect(last?.status).toBe(429);
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', last as request.Response);
    expect(records.map((r) => r.status)).toEqual([401, 429]);
    expect(records[1]).toMatchObject({ reason: 'rate_limited', route: 'GET /keys/{resourceId}/{kid}' });
  });
});

describe('a forged credential in the path names nobody', () => {
  it('plants no principal and no tenant from an unverified token or link, and a flood of them is sampled', async () => {
    await t.deps.staticKeys.create({ resourceId: 'acme-show' }, 'acme');
    const forged = (claims: object) =>
      `${Buffer.from('{"alg":"HS256","typ":"JWT","kid":"k1"}').toString('base64url')}.` +
      `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.AAAA`;
    const fake = forged({
      sub: 'acme-show',
      jti: 'ceo-laptop',
      ten: 'acme',
      aud: 'keyplane-playback',
      iat: now(),
      exp: now() + 60,
    });
    const from = ip();
    await awayFromMinuteEdge();
    const records = await recordsOf(from, async () => {
      for (let i = 0; i < 12; i += 1) {
        await request(t.app).get(`/playback/${fake}/keys/acme-show/${kid}`).set('x-forwarded-for', from);
        await request(t.app)
          .get(`/secure/${CLIENT}_acme-show/${'B'.repeat(43)}/${now() + 600}/keys/${kid}`)
          .set('x-forwarded-for', from);
      }
    });
    // Past the failed-auth limit (3) both routes answer 429, before any signature is checked; one record
    // per route, address and reason (the old code named the forged jti and recorded all 24).
    expect(records.map((r) => r.status).sort()).toEqual([401, 403, 429, 429]);
    expect(records.every((r) => r.principal === undefined)).toBe(true);
    expect(JSON.stringify(records)).not.toContain('ceo-laptop');
  });

  it('names the client of a secure link that verified and then expired', async () => {
    const from = ip();
    const records = await recordsOf(from, async () => {
      const res = await request(t.app)
        .get(`${link(now() - 10)}/${kid}`)
        .set('x-forwarded-for', from);
      expect(res.status).toBe(410);
    });
    expect(records).toEqual([expect.objectContaining({ status: 410, principal: `secure-link:${CLIENT}` })]);
  });
});

describe('an unauthenticated flood does not grow the audit trail without bound', () => {
  it('10,000 refusals without a principal write a bounded number of records; authenticated ones are all recorded', async () => {
    const server = await new Promise<Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const client = new LoopbackClient((server.address() as AddressInfo).port, 8);
    try {
      const before = (await allRecords()).length;
      let i = 0;
      const one = async () => {
        i += 1;
        // 100 addresses, each over its limit at once: 401s then 429s, all without a principal.
        await client.send({
          method: 'GET',
          path: `/keys/${RESOURCE}/${kid}`,
          headers: { 'x-forwarded-for': `192.0.2.${i % 100}`, 'x-api-key': `kp_guess${i}` },
        });
      };
      for (let k = 0; k < 1250; k += 1) await Promise.all(Array.from({ length: 8 }, one));
      const flood = (await allRecords()).length - before;
      // One per (route, address, reason) per minute window: 100 addresses × (401, 429), × 2 if a minute turned.
      expect(flood).toBeGreaterThan(0);
      expect(flood).toBeLessThanOrEqual(Math.min(4 * 100, MAX_SAMPLED_PER_WINDOW * 2));

      const from = ip();
      const authenticated = await recordsOf(from, async () => {
        for (let k = 0; k < 50; k += 1) {
          await request(t.app)
            .get(`/static-keys/${RESOURCE}`)
            .set('x-forwarded-for', from)
            .set('x-api-key', t.encoderKey);
        }
      });
      expect(authenticated).toHaveLength(50);
      expect(authenticated.every((r) => r.status === 403 && r.principal === apiKeyId(t.encoderKey))).toBe(true);
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 120_000);
});
