import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { localBackends, type Backends } from '../../src/compose/services';
import { loadConfig } from '../../src/config';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startMoto } from '../helpers/moto';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY } from '../helpers/test-app';

// Tenant scope of every route but SPEKE's claim (the core's suite): key delivery, tokens, Clear Key,
// leases, policies, static keys, audit, API keys and GET /tenants, on SQLite and on DynamoDB + KMS (moto).

const SIGNING = crypto.randomBytes(32);
const ENV = { KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SIGNING.toString('base64')}` };

interface Tenant {
  admin: string;
  encoder: string;
  proxy: string;
  issuer: string;
}

/** A SPEKE v1 request for one KID (as in the README walk-through). */
function spekeDoc(resourceId: string, kid: string): string {
  return `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix"
    xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:speke="urn:aws:amazon:com:speke">
  <cpix:ContentKeyList><cpix:ContentKey kid="${kid}"/></cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="${kid}" systemId="81376844-f976-481e-a84e-cc25d39b0b33">
      <cpix:URIExtXKey/><speke:KeyFormat/><speke:KeyFormatVersions/>
    </cpix:DRMSystem>
  </cpix:DRMSystemList>
</cpix:CPIX>`;
}

const b64 = (kid: string) => Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url');

async function sqliteBackends(): Promise<{ backends: Backends; cleanup: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-tenants-'));
  const backends = localBackends(loadConfig({ KEYPLANE_DATA_DIR: dir }));
  return { backends, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function awsBackends(): Promise<{ backends: Backends; cleanup: () => Promise<void> }> {
  const endpoint = startMoto();
  const fresh = await freshTable(endpoint);
  const cipher = new KmsEnvelopeCipher(kmsClient(endpoint), {
    keyId: await createKmsKey(endpoint),
    encryptionContext: { app: 'keyplane', deployment: `tenants-${crypto.randomUUID()}` },
  });
  return { backends: { store: dynamoDbBackend(dynamoClient(endpoint), fresh.table), cipher }, cleanup: fresh.drop };
}

describe.each([
  ['SQLite', sqliteBackends],
  ['DynamoDB + KMS', awsBackends],
])('tenant scope on %s', (_name, make) => {
  let app: RunningApp;
  let cleanup: () => Promise<void>;
  let url: string;
  let a: Tenant;
  let b: Tenant;
  const ridA = `a-film-${crypto.randomUUID()}`;
  const kidA = crypto.randomUUID();
  const staticA = `a-trailer-${crypto.randomUUID()}`;

  const as = (key: string) => ({ 'x-api-key': key });
  const createKey = (by: string, body: object) => request(url).post('/api-keys').set(as(by)).send(body);
  async function tenant(name: string): Promise<Tenant> {
    const admin = await createKey(ADMIN_KEY, { name: `${name}-admin`, roles: ['admin'], tenant: name });
    expect(admin.status).toBe(201);
    expect(admin.body.tenant).toBe(name);
    const key = async (role: string) => {
      const res = await createKey(admin.body.key as string, { name: `${name}-${role}`, roles: [role] });
      expect(res.status).toBe(201);
      expect(res.body.tenant).toBe(name);
      return res.body.key as string;
    };
    return {
      admin: admin.body.key as string,
      encoder: await key('encoder'),
      proxy: await key('keyserver'),
      issuer: await key('token-issuer'),
    };
  }

  beforeAll(async () => {
    const made = await make();
    cleanup = made.cleanup;
    app = await startBackendApp(made.backends, undefined, ENV);
    url = `http://127.0.0.1:${app.port}`;
    a = await tenant('studio-a');
    b = await tenant('studio-b');
    const issued = await request(url)
      .post('/copyProtection')
      .set({ ...as(a.encoder), 'content-type': 'application/xml' })
      .send(spekeDoc(ridA, kidA));
    expect(issued.status).toBe(200);
    expect((await request(url).post('/static-keys').set(as(a.admin)).send({ resourceId: staticA })).status).toBe(201);
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await cleanup?.();
  });

  const keyPath = `/keys/${ridA}`;

  it("B's keyserver gets none of A's keys (403, owner not named, audited); A's and the * admin's do", async () => {
    const mine = await request(url).get(`${keyPath}/${kidA}`).set(as(a.proxy));
    expect(mine.status).toBe(200);
    expect(mine.body).toHaveLength(16);
    expect((await request(url).get(`${keyPath}/${kidA}`).set(as(ADMIN_KEY))).status).toBe(200);
    const theirs = await request(url).get(`${keyPath}/${kidA}`).set(as(b.proxy));
    expect(theirs.status).toBe(403);
    expect(theirs.body).toMatchObject({ error: 'forbidden', reason: 'resource_not_yours' });
    expect(JSON.stringify(theirs.body)).not.toContain('studio-a');
    // An unknown KID of A's resource is still a 403 for B: B learns nothing about A's KIDs.
    expect((await request(url).get(`${keyPath}/${crypto.randomUUID()}`).set(as(b.proxy))).status).toBe(403);
    const audit = await request(url).get(`/audit?resourceId=${ridA}`).set(as(a.admin));
    const refusal = (audit.body.records as Record<string, unknown>[]).find((r) => r.reason === 'resource_not_yours');
    expect(refusal).toMatchObject({ status: 403, outcome: 'denied', tenant: 'studio-a', kid: kidA });
    expect(refusal?.principal).toMatch(/^apikey:/);
  });

  it("B's Clear Key license for A's KID is refused; A's is answered", async () => {
    const body = { kids: [b64(kidA)], type: 'temporary' };
    const theirs = await request(url).post('/clearkey/license').set(as(b.proxy)).send(body);
    expect(theirs.status).toBe(403);
    expect(theirs.body.reason).toBe('resource_not_yours');
    const mine = await request(url).post('/clearkey/license').set(as(a.proxy)).send(body);
    expect(mine.status).toBe(200);
    expect(mine.body.keys).toHaveLength(1);
  });

  it("B's token issuer cannot mint for A's resource; nobody mints for an unknown one; A's token carries A", async () => {
    const mint = (key: string, resourceId: string) =>
      request(url).post('/playback-tokens').set(as(key)).send({ resourceId });
    const theirs = await mint(b.issuer, ridA);
    expect(theirs.status).toBe(403);
    expect(theirs.body.reason).toBe('resource_not_yours');
    const unknown = await mint(a.issuer, `nothing-${crypto.randomUUID()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/create its keys/);
    expectMatchesSpec('post', '/playback-tokens', unknown);
    const mine = await mint(a.issuer, ridA);
    expect(mine.status).toBe(201);
    const claims = JSON.parse(Buffer.from((mine.body.token as string).split('.')[1] as string, 'base64url').toString());
    expect(claims.ten).toBe('studio-a');
    const played = await request(url).get(`${keyPath}/${kidA}`).set('authorization', `Bearer ${mine.body.token}`);
    expect(played.status).toBe(200);
    expect((await mint(ADMIN_KEY, ridA)).status).toBe(201);
  });

  it("B's admin can neither see nor release A's lease; A's admin and the * admin can", async () => {
    const lease = `/leases/${ridA}`;
    expect((await request(url).get(lease).set(as(b.admin))).status).toBe(403);
    const release = await request(url).delete(lease).set(as(b.admin));
    expect(release.status).toBe(403);
    expect(release.body.reason).toBe('resource_not_yours');
    const still = await request(url).get(lease).set(as(a.admin));
    expect(still.status).toBe(200);
    expect(still.body.kids).toEqual([kidA]);
    expect((await request(url).get(lease).set(as(ADMIN_KEY))).status).toBe(200);
  });

  it("B's admin cannot set, read or delete A's policy; A's can; a resource without keys has none", async () => {
    const policy = `/resources/${ridA}/policy`;
    const rules = { denyIps: ['203.0.113.7'] };
    expect((await request(url).put(policy).set(as(b.admin)).send(rules)).status).toBe(403);
    expect((await request(url).get(policy).set(as(a.admin))).status).toBe(404);
    const put = await request(url).put(policy).set(as(a.admin)).send(rules);
    expect(put.status).toBe(200);
    expect((await request(url).get(policy).set(as(b.admin))).status).toBe(403);
    expect((await request(url).delete(policy).set(as(b.admin))).status).toBe(403);
    expect((await request(url).get(policy).set(as(ADMIN_KEY))).status).toBe(200);
    expect((await request(url).delete(policy).set(as(a.admin))).status).toBe(204);
    const none = await request(url)
      .put(`/resources/nothing-${crypto.randomUUID()}/policy`)
      .set(as(ADMIN_KEY))
      .send(rules);
    expect(none.status).toBe(404);
  });

  it("B's admin cannot read A's static key; A's admin can", async () => {
    const read = (key: string) => request(url).get(`/static-keys/${staticA}`).set(as(key));
    const theirs = await read(b.admin);
    expect(theirs.status).toBe(403);
    expect(JSON.stringify(theirs.body)).not.toMatch(/StaticKeyValue/);
    expect((await read(a.admin)).status).toBe(200);
    expect((await read(ADMIN_KEY)).status).toBe(200);
    // A's admin sees the * admin's read: records fall under the resource owner's tenant.
    const audit = await request(url).get(`/audit?resourceId=${staticA}`).set(as(a.admin));
    const reads = (audit.body.records as { principal?: string; tenant?: string }[]).filter((r) => r.tenant);
    expect(reads.map((r) => r.principal)).toEqual(expect.arrayContaining(['admin-key']));
  });

  it("a refusal before delivery (401) is recorded under the resource owner's tenant", async () => {
    const anonymous = await request(url).get(`${keyPath}/${kidA}`).set(as('kp_0000000000000000_nope'));
    expect(anonymous.status).toBe(401);
    const audit = await request(url).get(`/audit?resourceId=${ridA}`).set(as(a.admin));
    expect(audit.body.records).toEqual(
      expect.arrayContaining([expect.objectContaining({ status: 401, tenant: 'studio-a' })]),
    );
  });

  it("GET /audit shows a tenant admin only its tenant's records; the * admin sees all or one tenant", async () => {
    const mine = await request(url).get(`/audit?resourceId=${ridA}`).set(as(a.admin));
    expect(mine.status).toBe(200);
    expectMatchesSpec('get', '/audit', mine);
    expect(mine.body.records.length).toBeGreaterThan(0);
    expect(mine.body.records.every((r: { tenant?: string }) => r.tenant === 'studio-a')).toBe(true);
    const theirs = await request(url).get(`/audit?resourceId=${ridA}`).set(as(b.admin));
    expect(theirs.status).toBe(200);
    expect(theirs.body.records).toEqual([]);
    expect((await request(url).get('/audit?tenant=studio-a').set(as(b.admin))).status).toBe(403);
    const all = await request(url).get('/audit?tenant=studio-a').set(as(ADMIN_KEY));
    expect(all.status).toBe(200);
    expect(all.body.records.length).toBeGreaterThan(0);
    expect(all.body.records.every((r: { tenant?: string }) => r.tenant === 'studio-a')).toBe(true);
  });

  it("API keys: a tenant admin lists, creates and revokes its own tenant's only; * any", async () => {
    const listB = await request(url).get('/api-keys').set(as(b.admin));
    expect(listB.status).toBe(200);
    expectMatchesSpec('get', '/api-keys', listB);
    const tenants = new Set((listB.body.apiKeys as { tenant: string }[]).map((k) => k.tenant));
    expect([...tenants]).toEqual(['studio-b']);
    for (const tenant of ['studio-a', '*']) {
      const refused = await createKey(b.admin, { name: 'x', roles: ['keyserver'], tenant });
      expect(refused.status).toBe(403);
      expect(refused.body.message).toMatch(/studio-b/);
    }
    expect((await createKey(b.admin, { name: 'x', roles: ['admin'], tenant: 'Bad Name' })).status).toBe(400);
    const all = await request(url).get('/api-keys').set(as(ADMIN_KEY));
    const aProxy = (all.body.apiKeys as { id: string; name: string }[]).find((k) => k.name === 'studio-a-keyserver');
    expect(aProxy).toBeDefined();
    expect((await request(url).delete(`/api-keys/${aProxy?.id}`).set(as(b.admin))).status).toBe(404);
    expect((await request(url).get(`${keyPath}/${kidA}`).set(as(a.proxy))).status).toBe(200);
    const defaulted = await createKey(ADMIN_KEY, { name: 'single-user', roles: ['encoder'] });
    expect(defaulted.body.tenant).toBe('default');
  });

  it('GET /tenants: the * admin sees every tenant with counts; a tenant admin gets 403', async () => {
    expect((await request(url).get('/tenants').set(as(b.admin))).status).toBe(403);
    const res = await request(url).get('/tenants').set(as(ADMIN_KEY));
    expect(res.status).toBe(200);
    expectMatchesSpec('get', '/tenants', res);
    const byId = new Map((res.body.tenants as { tenant: string }[]).map((t) => [t.tenant, t]));
    expect(byId.get('studio-a')).toMatchObject({ apiKeys: 4, resources: 2 });
    expect(byId.get('studio-b')).toMatchObject({ apiKeys: 4, resources: 0 });
  });
});
