import crypto from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { AuditLog } from '../../src/audit/audit-log';
import type { AuditRecord } from '../../src/audit/audit-record';
import { secureLinkToken } from '../../src/auth/secure-token';
import { fixture } from '../helpers/fixtures';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const SECRET = crypto.randomBytes(32);
const RESOURCE = 'several-keys-1';
const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const CLIENT = 'cms-1';
const LINK_SECRET = 'secure-link-secret-0123456789';

type View = Omit<AuditRecord, 'time'> & { time: string };

function jwt(payload: object): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(payload)}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
function token(over: object = {}): { token: string; jti: string } {
  const jti = crypto.randomUUID();
  const claims = { sub: RESOURCE, aud: 'keyplane-playback', jti, iat: now(), exp: now() + 60, ...over };
  return { token: jwt(claims), jti };
}
const apiKeyId = (key: string) => `apikey:${key.split('_')[1]}`;

let t: TestApp;
const admin = () => ({ 'x-api-key': ADMIN_KEY });

async function auditOf(query: string): Promise<View[]> {
  const res = await request(t.app).get(`/audit?${query}`).set(admin());
  expect(res.status).toBe(200);
  expectMatchesSpec('get', '/audit', res);
  return res.body.records as View[];
}
/** The newest records of a resource, after `count` earlier ones. */
const since = async (count: number, resourceId = RESOURCE) =>
  (await auditOf(`resourceId=${resourceId}&limit=1000`)).slice(count);

beforeEach(async () => {
  t = await makeTestApp({
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SECRET.toString('base64')}`,
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: CLIENT,
    KEYPLANE_SECURE_TOKEN_SECRET: LINK_SECRET,
  });
  const res = await request(t.app)
    .post('/copyProtection')
    .set('x-api-key', t.encoderKey)
    .set('Content-Type', 'application/xml')
    .send(fixture('v1/hls-several-keys.xml'));
  expect(res.status).toBe(200);
});
afterEach(async () => {
  await t.close();
});

describe('audit records', () => {
  it('records SPEKE issuance per KID with the encoder, route, status and client address', async () => {
    const records = await auditOf(`resourceId=${RESOURCE}`);
    // One write for the request: both records share a time, then order by (random) id.
    expect(records.map((r) => r.kid).sort()).toEqual([KID_A, KID_B]);
    for (const r of records) {
      expect(r).toMatchObject({
        action: 'issue',
        route: 'POST /copyProtection',
        resourceId: RESOURCE,
        principal: apiKeyId(t.encoderKey),
        outcome: 'allowed',
        status: 200,
        clientIp: '127.0.0.1',
      });
      expect(Date.now() - new Date(r.time).getTime()).toBeLessThan(60_000);
    }
  });

  it('records static key creation, re-creation and reads', async () => {
    const created = await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'trailer-1' });
    await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'trailer-1' });
    await request(t.app).get('/static-keys/trailer-1').set(admin());
    const records = await auditOf('resourceId=trailer-1');
    const kid = created.body.kid as string;
    expect(records.map((r) => [r.action, r.route, r.status, r.kid, r.principal])).toEqual([
      ['issue', 'POST /static-keys', 201, kid, 'admin-key'],
      ['issue', 'POST /static-keys', 200, kid, 'admin-key'],
      ['deliver', 'GET /static-keys/{resourceId}', 200, kid, 'admin-key'],
    ]);
  });

  it('records /keys deliveries, allowed and refused (401 before routing, 403, 404, 410)', async () => {
    const before = (await since(0)).length;
    const other = token({ sub: 'other-vod' });
    const expired = token({ iat: now() - 120, exp: now() - 60 });
    const unknownKid = crypto.randomUUID();
    await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).set('x-api-key', t.keyserverKey).expect(200);
    await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).expect(401);
    await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).set('Authorization', `Bearer ${other.token}`).expect(403);
    await request(t.app).get(`/keys/${RESOURCE}/${unknownKid}`).set('x-api-key', t.keyserverKey).expect(404);
    await request(t.app).get(`/keys/${RESOURCE}/${KID_B}?token=${expired.token}`).expect(410);
    const records = await since(before);
    expect(records.map((r) => [r.route, r.kid, r.outcome, r.status, r.reason, r.principal])).toEqual([
      ['GET /keys/{resourceId}/{kid}', KID_A, 'allowed', 200, undefined, apiKeyId(t.keyserverKey)],
      ['GET /keys/{resourceId}/{kid}', KID_A, 'denied', 401, 'unauthorized', undefined],
      ['GET /keys/{resourceId}/{kid}', KID_A, 'denied', 403, 'token_resource_mismatch', `token:${other.jti}`],
      ['GET /keys/{resourceId}/{kid}', unknownKid, 'denied', 404, 'not_found', apiKeyId(t.keyserverKey)],
      // The expired token's signature verified: its jti names the caller.
      ['GET /keys/{resourceId}/{kid}', KID_B, 'denied', 410, 'gone', `token:${expired.jti}`],
    ]);
    expect(records.every((r) => r.clientIp === '127.0.0.1' && r.action === 'deliver')).toBe(true);
  });

  it('records playback-token path deliveries with the token id once verified', async () => {
    const before = (await since(0)).length;
    const good = token();
    const expired = token({ iat: now() - 120, exp: now() - 60 });
    await request(t.app).get(`/playback/${good.token}/keys/${RESOURCE}/${KID_A}`).expect(200);
    await request(t.app).get(`/playback/${expired.token}/keys/${RESOURCE}/${KID_A}`).expect(410);
    await request(t.app)
      .get(`/playback/${good.token.slice(0, -3)}xyz/keys/${RESOURCE}/${KID_A}`)
      .expect(401);
    const records = await since(before);
    expect(records.map((r) => [r.status, r.principal])).toEqual([
      [200, `token:${good.jti}`],
      [410, `token:${expired.jti}`],
      [401, undefined],
    ]);
    expect(records.every((r) => r.route === 'GET /playback/{token}/keys/{resourceId}/{kid}')).toBe(true);
  });

  it('records secure-link deliveries (allowed and an invalid link) and Clear Key licenses', async () => {
    const before = (await since(0)).length;
    const expires = now() + 60;
    const link = (tok: string) => `/secure/${CLIENT}_${RESOURCE}/${tok}/${expires}/keys/${KID_B}`;
    const tok = secureLinkToken({ clientId: CLIENT, secret: LINK_SECRET, algorithm: 'hmac-sha256' }, RESOURCE, expires);
    await request(t.app).get(link(tok)).expect(200);
    await request(t.app).get(link('AAAA')).expect(403);
    const kid = Buffer.from(KID_A.replace(/-/g, ''), 'hex').toString('base64url');
    await request(t.app)
      .post('/clearkey/license')
      .set('x-api-key', t.keyserverKey)
      .send({ kids: [kid] })
      .expect(200);
    const records = await since(before);
    expect(records.map((r) => [r.route, r.kid, r.status, r.reason, r.principal])).toEqual([
      [
        'GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}',
        KID_B,
        200,
        undefined,
        `secure-link:${CLIENT}`,
      ],
      [
        'GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}',
        KID_B,
        403,
        'secure_link_invalid',
        // A link that did not verify names nobody: its client id is whatever the sender wrote.
        undefined,
      ],
      ['POST /clearkey/license', KID_A, 200, undefined, apiKeyId(t.keyserverKey)],
    ]);
  });

  it('never carries key material', async () => {
    await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).set('x-api-key', t.keyserverKey).expect(200);
    const records = await auditOf('limit=1000');
    const fields = new Set(records.flatMap((r) => Object.keys(r)));
    expect([...fields].sort()).toEqual(
      [
        'action',
        'clientIp',
        'id',
        'kid',
        'outcome',
        'principal',
        'resourceId',
        'route',
        'status',
        'tenant',
        'time',
      ].sort(),
    );
  });
});

describe('GET /audit', () => {
  async function deliveries(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).set('x-api-key', t.keyserverKey).expect(200);
    }
  }

  it('pages with an opaque cursor, without gaps or repeats, and filters by resource and since', async () => {
    await deliveries(7);
    await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'trailer-2' });
    const all = await auditOf('limit=1000');
    expect(all.length).toBe(10);
    const seen: View[] = [];
    let cursor = '';
    for (let page = 0; page < 10; page++) {
      const res = await request(t.app).get(`/audit?limit=3${cursor}`).set(admin());
      expectMatchesSpec('get', '/audit', res);
      expect(res.headers['cache-control']).toBe('no-store');
      seen.push(...res.body.records);
      if (!res.body.nextCursor) break;
      cursor = `&cursor=${encodeURIComponent(res.body.nextCursor)}`;
    }
    expect(seen.map((r) => r.id)).toEqual(all.map((r) => r.id));
    expect((await auditOf(`resourceId=trailer-2`)).map((r) => r.route)).toEqual(['POST /static-keys']);
    const last = all[all.length - 1] as View;
    expect((await auditOf(`since=${encodeURIComponent(last.time)}`)).map((r) => r.id)).toContain(last.id);
    expect(await auditOf(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
  });

  it.each([
    ['limit=0', /limit/],
    ['limit=1001', /limit/],
    ['limit=abc', /limit/],
    ['since=yesterday', /since/],
    ['cursor=not-a-cursor', /cursor/],
    // Past the last instant a Date holds: it would have read as "no cursor" and restarted the listing.
    [`cursor=${Buffer.from(JSON.stringify({ t: 9007199254740991, i: 'x' })).toString('base64url')}`, /cursor/],
    ['since=2024-02-30T00:00:00Z', /since names a day that does not exist: 2024-02-30/],
    ['resourceId=bad%20id', /resourceId/],
    ['limit=1&limit=2', /once/],
  ])('answers %s with 400', async (query, message) => {
    const res = await request(t.app).get(`/audit?${query}`).set(admin());
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('get', '/audit', res);
  });

  it('is for admins only', async () => {
    expect((await request(t.app).get('/audit')).status).toBe(401);
    const res = await request(t.app).get('/audit').set('x-api-key', t.keyserverKey);
    expect(res.status).toBe(403);
    expectMatchesSpec('get', '/audit', res);
  });
});

describe('AuditLog when the store fails', () => {
  it('logs and counts the lost records but never fails the caller', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const failing = {
      append: async () => {
        throw new Error('disk full');
      },
      query: async () => ({ records: [] }),
    };
    const audit = new AuditLog(failing, logger);
    await expect(
      audit.record([{ action: 'deliver', route: 'GET /keys/{resourceId}/{kid}', resourceId: 'r', status: 200 }]),
    ).resolves.toBeUndefined();
    expect(audit.failedWrites).toBe(1);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 50, msg: 'audit write failed', lost: 1, failedWrites: 1, resourceId: 'r' }),
    ]);
  });

  it('keeps delivering keys when audit writes fail', async () => {
    const store = t.deps.store;
    const append = jest.spyOn(store.audit, 'append').mockRejectedValue(new Error('audit table gone'));
    try {
      const res = await request(t.app).get(`/keys/${RESOURCE}/${KID_A}`).set('x-api-key', t.keyserverKey);
      expect(res.status).toBe(200);
      expect(append).toHaveBeenCalled();
    } finally {
      append.mockRestore();
    }
  });
});
