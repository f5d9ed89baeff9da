import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createApp, type AppDeps } from '../../src/compose/app';
import { buildDeps, localBackends, type Backends } from '../../src/compose/services';
import { loadConfig } from '../../src/config';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startSerialMoto } from '../helpers/moto';
import { ADMIN_KEY } from '../helpers/test-app';

// Tenants through the HTTP app, on SQLite (local cipher) and on DynamoDB + KMS in moto: a resource ID
// belongs to the tenant that first created keys for it; everyone else gets 403 and never a key.

const LEASE_TTL = 60;
const CLEARKEY = 'e2719d58-a985-b3c9-781a-b030af78d30e';

/** The app on some backends, its clock (tests move it) and API keys of two tenants. */
interface TenantApp {
  app: Express;
  deps: AppDeps;
  advance: (seconds: number) => void;
  keys: { encA: string; encA2: string; encB: string; adminA: string; adminB: string };
  close: () => Promise<void>;
}

async function tenantApp(
  dataDir: string,
  backends: (config: ReturnType<typeof loadConfig>) => Backends,
): Promise<TenantApp> {
  let now = Date.now();
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_PUBLIC_URL: 'http://keys.test',
    KEYPLANE_LEASE_TTL_SECONDS: String(LEASE_TTL),
  });
  const built = backends(config);
  const deps = buildDeps(config, built, { logger: pino({ level: 'silent' }), now: () => new Date(now) });
  const create = async (name: string, roles: string[], tenant: string) =>
    (await deps.apiKeys.create(name, roles, tenant)).key;
  const keys = {
    encA: await create('enc-a', ['encoder'], 'acme'),
    encA2: await create('enc-a2', ['encoder'], 'acme'),
    encB: await create('enc-b', ['encoder'], 'bravo'),
    adminA: await create('admin-a', ['admin'], 'acme'),
    adminB: await create('admin-b', ['admin'], 'bravo'),
  };
  return {
    app: createApp(deps),
    deps,
    keys,
    advance: (seconds) => (now += seconds * 1000),
    close: () => built.store.close(),
  };
}

function cpix(resourceId: string, kids: string[]): string {
  const keys = kids.map((k) => `<cpix:ContentKey kid="${k}"/>`).join('');
  const drm = kids.map((k) => `<cpix:DRMSystem kid="${k}" systemId="${CLEARKEY}"/>`).join('');
  return (
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">` +
    `<cpix:ContentKeyList>${keys}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList></cpix:CPIX>`
  );
}

const keysIn = (xml: string): string[] => [...xml.matchAll(/PlainValue>([^<]+)</g)].map((m) => m[1] as string);

/** The tenant behaviour every backend must show through the HTTP app. */
function describeTenants(name: string, make: () => Promise<TenantApp>): void {
  describe(`tenants over HTTP: ${name}`, () => {
    let t: TenantApp;
    beforeAll(async () => {
      t = await make();
    }, 300_000);
    afterAll(async () => {
      await t?.close();
    });

    const speke = (key: string, resourceId: string, kids: string[]) =>
      request(t.app)
        .post('/copyProtection')
        .set('x-api-key', key)
        .set('content-type', 'application/xml')
        .send(cpix(resourceId, kids));
    const rid = () => `movie-${crypto.randomUUID()}`;

    it("refuses another tenant's resource with 403, before and after the lease lapses, and never a key", async () => {
      const resourceId = rid();
      const kid = crypto.randomUUID();
      const first = await speke(t.keys.encA, resourceId, [kid]);
      expect(first.status).toBe(200);
      const [key] = keysIn(first.text);
      expect(key).toBeDefined();

      for (const lapse of [0, LEASE_TTL + 1]) {
        t.advance(lapse);
        for (const kids of [[kid], [crypto.randomUUID()]]) {
          const res = await speke(t.keys.encB, resourceId, kids);
          expect(res.status).toBe(403);
          expect(res.body).toMatchObject({ error: 'resource_taken' });
          expect(res.body.message).toBe(
            `resource ID ${resourceId} is taken by another tenant; pick another resource ID`,
          );
          expect(res.text).not.toContain('acme');
          expect(res.text).not.toContain(key as string);
        }
      }

      // Same tenant, same content ID, later (lease lapsed), another encoder: the same keys.
      const again = await speke(t.keys.encA2, resourceId, [kid]);
      expect(again.status).toBe(200);
      expect(keysIn(again.text)).toEqual([key]);
      expect(await t.deps.keys.ownerOf(resourceId)).toMatchObject({ tenant: 'acme', kind: 'speke' });
    });

    it('never hands a static key out through SPEKE, even to its own tenant', async () => {
      const resourceId = rid();
      const created = await request(t.app).post('/static-keys').set('x-api-key', t.keys.adminA).send({ resourceId });
      expect(created.status).toBe(201);
      const own = await speke(t.keys.encA, resourceId, [created.body.kid]);
      expect(own.status).toBe(403);
      expect(own.body).toMatchObject({ error: 'static_resource' });
      expect(own.body.message).toMatch(/is a static-key resource; static keys are never handed out through SPEKE/);
      expect(own.text).not.toContain(created.body.StaticKeyValue);
      const other = await speke(t.keys.encB, resourceId, [created.body.kid]);
      expect(other.status).toBe(403);
      expect(other.text).not.toContain(created.body.StaticKeyValue);
    });

    it("keeps static keys to their tenant: another tenant's admin cannot read or re-create them; * can", async () => {
      const resourceId = rid();
      const created = await request(t.app).post('/static-keys').set('x-api-key', t.keys.adminA).send({ resourceId });
      expect(created.status).toBe(201);
      const read = (key: string) => request(t.app).get(`/static-keys/${resourceId}`).set('x-api-key', key);
      expect((await read(t.keys.adminA)).status).toBe(200);
      const refused = await read(t.keys.adminB);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'resource_taken' });
      expect(refused.text).not.toContain(created.body.StaticKeyValue);
      const all = await read(ADMIN_KEY);
      expect(all.status).toBe(200);
      expect(all.body.StaticKeyValue).toBe(created.body.StaticKeyValue);
      const again = await request(t.app).post('/static-keys').set('x-api-key', t.keys.adminB).send({ resourceId });
      expect(again.status).toBe(403);

      const spekeResource = rid();
      expect((await speke(t.keys.encA, spekeResource, [crypto.randomUUID()])).status).toBe(200);
      const onSpeke = (key: string) =>
        request(t.app).post('/static-keys').set('x-api-key', key).send({ resourceId: spekeResource });
      expect((await onSpeke(t.keys.adminB)).status).toBe(403);
      expect((await onSpeke(t.keys.adminA)).status).toBe(409);
    });

    it('two tenants racing for one new resource ID: one owner, the losers never get a key', async () => {
      const resourceId = rid();
      const kidA = crypto.randomUUID();
      const kidB = crypto.randomUUID();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0 ? speke(t.keys.encA, resourceId, [kidA]) : speke(t.keys.encB, resourceId, [kidB]),
        ),
      );
      const owner = await t.deps.keys.ownerOf(resourceId);
      expect(owner).toBeDefined();
      const winnerKid = owner?.tenant === 'acme' ? kidA : kidB;
      const loserKid = winnerKid === kidA ? kidB : kidA;
      results.forEach((res, i) => {
        const wonTenant = (i % 2 === 0 ? 'acme' : 'bravo') === owner?.tenant;
        if (!wonTenant) {
          expect([403, 409]).toContain(res.status);
          expect(keysIn(res.text)).toEqual([]);
        }
      });
      expect(results.some((r) => r.status === 200)).toBe(true);
      const stored = await t.deps.keys.findByKids([kidA, kidB]);
      expect([...stored.keys()]).toEqual([winnerKid]);
      expect(stored.has(loserKid)).toBe(false);
    });
  });
}

const tmpDirs: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-tenants-'));
  tmpDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describeTenants('SQLite + local cipher', () => tenantApp(tmp(), localBackends));

let dropTable: (() => Promise<void>) | undefined;
// The race needs serializable transactions, as DynamoDB's are; moto's threaded server is not (see startSerialMoto).
let serial: { endpoint: string; stop: () => Promise<void> } | undefined;
afterAll(async () => {
  await dropTable?.();
  await serial?.stop();
});
describeTenants('DynamoDB + KMS (moto, serial)', async () => {
  serial = await startSerialMoto();
  const { endpoint } = serial;
  const { table, drop } = await freshTable(endpoint);
  dropTable = drop;
  const keyId = await createKmsKey(endpoint);
  return tenantApp(tmp(), () => ({
    store: dynamoDbBackend(dynamoClient(endpoint), table),
    cipher: new KmsEnvelopeCipher(kmsClient(endpoint), {
      keyId,
      encryptionContext: { app: 'keyplane', deployment: `tenants-${crypto.randomUUID()}` },
    }),
  }));
});

describe('SQLite data from before tenants', () => {
  it('opens with everything in default, and the old admin key still administers every tenant', async () => {
    const dataDir = tmp();
    const before = await tenantApp(dataDir, localBackends);
    const speke = (t: TenantApp, key: string, resourceId: string, kids: string[]) =>
      request(t.app)
        .post('/copyProtection')
        .set('x-api-key', key)
        .set('content-type', 'application/xml')
        .send(cpix(resourceId, kids));
    const oldAdmin = (await before.deps.apiKeys.create('old-admin', ['admin'], 'default')).key;
    const oldEncoder = (await before.deps.apiKeys.create('old-encoder', ['encoder'], 'default')).key;
    const kid = crypto.randomUUID();
    const first = await speke(before, oldEncoder, 'legacy-movie', [kid]);
    expect(first.status).toBe(200);
    const legacyStatic = await request(before.app)
      .post('/static-keys')
      .set('x-api-key', oldAdmin)
      .send({ resourceId: 'legacy-static' });
    expect(legacyStatic.status).toBe(201);
    await before.close();

    // Back to the schema of the release before tenants: no resources table, no api_keys.tenant, no audit.tenant.
    const db = new Database(path.join(dataDir, 'keyplane.db'));
    db.exec('DROP TABLE resources; DROP INDEX api_keys_tenant; ALTER TABLE api_keys DROP COLUMN tenant;');
    db.close();
    const audit = new Database(path.join(dataDir, 'keyplane-audit.db'));
    audit.exec('DROP INDEX audit_tenant_time; ALTER TABLE audit DROP COLUMN tenant;');
    audit.close();

    const after = await tenantApp(dataDir, localBackends);
    try {
      expect(await after.deps.keys.ownerOf('legacy-movie')).toMatchObject({ tenant: 'default', kind: 'speke' });
      expect(await after.deps.keys.ownerOf('legacy-static')).toMatchObject({ tenant: 'default', kind: 'static' });
      const views = await after.deps.apiKeys.list();
      expect(views.find((v) => v.name === 'old-admin')?.tenant).toBe('*');
      expect(views.find((v) => v.name === 'old-encoder')?.tenant).toBe('default');

      // The old encoder (default) gets the same key; another tenant gets 403.
      const again = await speke(after, oldEncoder, 'legacy-movie', [kid]);
      expect(again.status).toBe(200);
      expect(keysIn(again.text)).toEqual(keysIn(first.text));
      expect((await speke(after, after.keys.encB, 'legacy-movie', [kid])).status).toBe(403);

      // The old admin key administers every tenant, old resources and new ones.
      const bravoStatic = await request(after.app)
        .post('/static-keys')
        .set('x-api-key', after.keys.adminB)
        .send({ resourceId: 'bravo-static' });
      expect(bravoStatic.status).toBe(201);
      for (const resourceId of ['legacy-static', 'bravo-static']) {
        const res = await request(after.app).get(`/static-keys/${resourceId}`).set('x-api-key', oldAdmin);
        expect(res.status).toBe(200);
      }
      expect(
        (await request(after.app).get('/static-keys/legacy-static').set('x-api-key', after.keys.adminB)).status,
      ).toBe(403);
    } finally {
      await after.close();
    }
  });
});
