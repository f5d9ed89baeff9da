import crypto from 'node:crypto';
import request from 'supertest';
import type { AuditRecord } from '../../src/audit/audit-record';
import { apiKeyParts } from '../helpers/api-key-parts';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

// Admin changes in the audit trail: API keys created and revoked, leases released, delivery policies set
// and removed, each allowed or refused, under the tenant whose key or resource it was.

let t: TestApp;
let adminAcme: string;
let adminBravo: string;
let adminDefault: string;
let bravoKeyId: string;

const idOf = (key: string) => key.split('_')[1] as string;
const HLS = '81376844-f976-481e-a84e-cc25d39b0b33';
const KID = '00000000-0000-4000-8000-00000000c0de';
const cpix = (resourceId: string) =>
  `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">` +
  `<cpix:ContentKeyList><cpix:ContentKey kid="${KID}"/></cpix:ContentKeyList>` +
  `<cpix:DRMSystemList><cpix:DRMSystem kid="${KID}" systemId="${HLS}"><cpix:URIExtXKey/></cpix:DRMSystem>` +
  `</cpix:DRMSystemList></cpix:CPIX>`;

/** Every record in the store, oldest first. */
async function allRecords(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let page = await t.deps.store.audit.query({ limit: 1000 });
  out.push(...page.records);
  while (page.next) {
    page = await t.deps.store.audit.query({ limit: 1000, cursor: page.next });
    out.push(...page.records);
  }
  return out;
}

/** The records written while `act` ran. */
async function recordsOf(act: () => Promise<unknown>): Promise<AuditRecord[]> {
  const before = new Set((await allRecords()).map((r) => r.id));
  await act();
  return (await allRecords()).filter((r) => !before.has(r.id));
}

/** What `GET /audit` shows the holder of `key` (checked against the OpenAPI description). */
async function visibleTo(key: string): Promise<AuditRecord[]> {
  const since = new Date(Date.now() - 3600_000).toISOString();
  const res = await request(t.app).get(`/audit?since=${since}&limit=1000`).set('x-api-key', key);
  expect(res.status).toBe(200);
  expectMatchesSpec('GET', '/audit', res);
  return (res.body as { records: AuditRecord[] }).records;
}

beforeAll(async () => {
  t = await makeTestApp({
    KEYPLANE_LEASE_TTL_SECONDS: '600',
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${crypto.randomBytes(32).toString('base64')}`,
  });
  adminAcme = (await t.deps.apiKeys.create('admin-acme', ['admin'], 'acme')).key;
  adminBravo = (await t.deps.apiKeys.create('admin-bravo', ['admin'], 'bravo')).key;
  adminDefault = (await t.deps.apiKeys.create('admin-default', ['admin'], 'default')).key;
  bravoKeyId = (await t.deps.apiKeys.create('enc-bravo', ['encoder'], 'bravo')).record.id;
});
afterAll(async () => {
  await t.close();
});

describe('API keys', () => {
  it('records a key created, under its tenant, and never its secret', async () => {
    let secret = '';
    const records = await recordsOf(async () => {
      const res = await request(t.app)
        .post('/api-keys')
        .set('x-api-key', ADMIN_KEY)
        .send({ name: 'enc-acme', roles: ['encoder'], tenant: 'acme' });
      expect(res.status).toBe(201);
      secret = res.body.key as string;
    });
    expect(records).toEqual([
      expect.objectContaining({
        action: 'grant',
        route: 'POST /api-keys',
        resourceId: `apikey:${idOf(secret)}`,
        tenant: 'acme',
        principal: 'admin-key',
        status: 201,
        outcome: 'allowed',
      }),
    ]);
    expect(JSON.stringify(await allRecords())).not.toContain(apiKeyParts(secret).secret);
    expect((await visibleTo(adminAcme)).map((r) => r.resourceId)).toContain(`apikey:${idOf(secret)}`);
    expect((await visibleTo(adminBravo)).map((r) => r.resourceId)).not.toContain(`apikey:${idOf(secret)}`);
  });

  it("records a tenant admin refused another tenant's key, under its own tenant", async () => {
    const records = await recordsOf(async () => {
      const res = await request(t.app)
        .post('/api-keys')
        .set('x-api-key', adminAcme)
        .send({ name: 'sneaky', roles: ['admin'], tenant: 'bravo' });
      expect(res.status).toBe(403);
    });
    expect(records).toEqual([
      expect.objectContaining({
        action: 'grant',
        resourceId: '-',
        tenant: 'acme',
        principal: `apikey:${idOf(adminAcme)}`,
        status: 403,
        outcome: 'denied',
        reason: 'forbidden',
      }),
    ]);
  });

  it('keeps a key of every tenant out of every tenant admin’s view', async () => {
    let id = '';
    const records = await recordsOf(async () => {
      const res = await request(t.app)
        .post('/api-keys')
        .set('x-api-key', ADMIN_KEY)
        .send({ name: 'ops', roles: ['admin'], tenant: '*' });
      expect(res.status).toBe(201);
      id = res.body.id as string;
    });
    expect(records).toEqual([expect.objectContaining({ action: 'grant', resourceId: `apikey:${id}`, tenant: '*' })]);
    expect((await visibleTo(ADMIN_KEY)).map((r) => r.resourceId)).toContain(`apikey:${id}`);
    for (const key of [adminAcme, adminDefault]) {
      expect((await visibleTo(key)).map((r) => r.resourceId)).not.toContain(`apikey:${id}`);
    }
  });

  it('records a revocation, and a refused one without telling the other tenant', async () => {
    const mine = (await t.deps.apiKeys.create('enc-acme-2', ['encoder'], 'acme')).record.id;
    const revoked = await recordsOf(async () => {
      expect((await request(t.app).delete(`/api-keys/${mine}`).set('x-api-key', adminAcme)).status).toBe(204);
    });
    expect(revoked).toEqual([
      expect.objectContaining({
        action: 'revoke',
        route: 'DELETE /api-keys/{id}',
        resourceId: `apikey:${mine}`,
        tenant: 'acme',
        status: 204,
        outcome: 'allowed',
      }),
    ]);
    const refused = await recordsOf(async () => {
      expect((await request(t.app).delete(`/api-keys/${bravoKeyId}`).set('x-api-key', adminAcme)).status).toBe(404);
    });
    expect(refused).toEqual([
      expect.objectContaining({ action: 'revoke', resourceId: `apikey:${bravoKeyId}`, tenant: 'acme', status: 404 }),
    ]);
    expect((await visibleTo(adminBravo)).map((r) => r.resourceId)).not.toContain(`apikey:${bravoKeyId}`);
    // The key is untouched.
    expect((await t.deps.store.apiKeys.get(bravoKeyId))?.revokedAt).toBeUndefined();
  });
});

describe('leases and policies', () => {
  const resource = 'change-audit-vod';
  beforeAll(async () => {
    const res = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('Content-Type', 'application/xml')
      .send(cpix(resource));
    expect(res.status).toBe(200);
  });

  it("records another encoder refused the lease, then the holder's release", async () => {
    const refused = await recordsOf(async () => {
      expect((await request(t.app).delete(`/leases/${resource}`).set('x-api-key', t.encoder2Key)).status).toBe(403);
    });
    expect(refused).toEqual([
      expect.objectContaining({
        action: 'release',
        route: 'DELETE /leases/{resourceId}',
        resourceId: resource,
        tenant: 'default',
        principal: expect.stringMatching(/^apikey:/),
        status: 403,
        outcome: 'denied',
      }),
    ]);
    const released = await recordsOf(async () => {
      expect((await request(t.app).delete(`/leases/${resource}`).set('x-api-key', t.encoderKey)).status).toBe(204);
    });
    expect(released).toEqual([
      expect.objectContaining({
        action: 'release',
        resourceId: resource,
        principal: `apikey:${idOf(t.encoderKey)}`,
        status: 204,
        outcome: 'allowed',
      }),
    ]);
    expect(released[0]?.principal).not.toBe(refused[0]?.principal);
  });

  it('records a policy set, a bad one refused and one removed, never a read', async () => {
    const path = `/resources/${resource}/policy`;
    const records = await recordsOf(async () => {
      const set = await request(t.app)
        .put(path)
        .set('x-api-key', ADMIN_KEY)
        .send({ allowIps: ['192.0.2.0/24'] });
      expect(set.status).toBe(200);
      const bad = await request(t.app)
        .put(path)
        .set('x-api-key', ADMIN_KEY)
        .send({ allowIps: ['not-an-address'] });
      expect(bad.status).toBe(400);
      expect((await request(t.app).get(path).set('x-api-key', ADMIN_KEY)).status).toBe(200);
      expect((await request(t.app).delete(path).set('x-api-key', ADMIN_KEY)).status).toBe(204);
    });
    expect(records.map((r) => [r.action, r.route, r.resourceId, r.tenant, r.status])).toEqual([
      ['configure', 'PUT /resources/{resourceId}/policy', resource, 'default', 200],
      ['configure', 'PUT /resources/{resourceId}/policy', resource, 'default', 400],
      ['configure', 'DELETE /resources/{resourceId}/policy', resource, 'default', 204],
    ]);
  });

  it('records who minted a playback token, so a delivery under token:<jti> leads back to its issuer', async () => {
    const issuer = (await t.deps.apiKeys.create('issuer', ['token-issuer'])).key;
    let jti = '';
    const minted = await recordsOf(async () => {
      const res = await request(t.app).post('/playback-tokens').set('x-api-key', issuer).send({ resourceId: resource });
      expect(res.status).toBe(201);
      jti = JSON.parse(Buffer.from((res.body.token as string).split('.')[1] as string, 'base64url').toString()).jti;
      expect(JSON.stringify(await allRecords())).not.toContain(res.body.token);
    });
    expect(minted).toEqual([
      expect.objectContaining({
        action: 'grant',
        route: 'POST /playback-tokens',
        resourceId: `token:${jti}`,
        tenant: 'default',
        principal: `apikey:${idOf(issuer)}`,
        status: 201,
      }),
    ]);
    const refused = await recordsOf(async () => {
      const res = await request(t.app)
        .post('/playback-tokens')
        .set('x-api-key', adminBravo)
        .send({ resourceId: resource });
      expect(res.status).toBe(403);
    });
    expect(refused).toEqual([
      expect.objectContaining({ action: 'grant', resourceId: '-', tenant: 'bravo', status: 403 }),
    ]);
  });

  it("files a revocation under the revoker's tenant: a `*` one under `*`, never `default`", async () => {
    await t.deps.staticKeys.create({ resourceId: 'acme-film' }, 'acme');
    const mint = async (key: string) => {
      const res = await request(t.app).post('/playback-tokens').set('x-api-key', key).send({ resourceId: 'acme-film' });
      expect(res.status).toBe(201);
      return JSON.parse(Buffer.from((res.body.token as string).split('.')[1] as string, 'base64url').toString())
        .jti as string;
    };
    const byAll = await mint(ADMIN_KEY);
    const byAcme = await mint(adminAcme);
    for (const [jti, key] of [
      [byAll, ADMIN_KEY],
      [byAcme, adminAcme],
    ] as const) {
      expect((await request(t.app).delete(`/playback-tokens/${jti}`).set('x-api-key', key)).status).toBe(204);
    }
    const revokes = (records: AuditRecord[]) =>
      records.filter((r) => r.action === 'revoke' && r.resourceId.startsWith('token:')).map((r) => r.resourceId);
    expect(revokes(await visibleTo(ADMIN_KEY))).toEqual(expect.arrayContaining([`token:${byAll}`, `token:${byAcme}`]));
    expect(revokes(await visibleTo(adminAcme))).toEqual([`token:${byAcme}`]);
    expect(revokes(await visibleTo(adminDefault))).toEqual([]);
  });

  it("files a change refused to nobody under `*`, never in the named resource's tenant", async () => {
    const records = await recordsOf(async () => {
      expect((await request(t.app).delete(`/leases/${resource}`).set('x-forwarded-for', '203.0.113.9')).status).toBe(
        401,
      );
    });
    expect(records).toEqual([
      expect.objectContaining({ action: 'release', resourceId: resource, tenant: '*', status: 401 }),
    ]);
    expect(records[0]?.principal).toBeUndefined();
  });

  it("records a tenant admin refused another tenant's resource under the owner's tenant", async () => {
    const records = await recordsOf(async () => {
      expect((await request(t.app).delete(`/leases/${resource}`).set('x-api-key', adminBravo)).status).toBe(403);
    });
    expect(records).toEqual([
      expect.objectContaining({
        action: 'release',
        resourceId: resource,
        tenant: 'default',
        principal: `apikey:${idOf(adminBravo)}`,
        status: 403,
        reason: 'resource_not_yours',
      }),
    ]);
  });
});
