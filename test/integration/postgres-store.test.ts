import crypto from 'node:crypto';
import { Client } from 'pg';
import { ServiceUnavailableError } from '../../src/errors';
import { MIGRATIONS, openPostgresBackend } from '../../src/store/postgres';
import { deliveryRecord } from '../helpers/audit-records';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { freePort } from '../helpers/server-process';
import { describeBackendContract } from './store-contract';

let server: PostgresServer | undefined;
let url = '';

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase();
}, 120_000);
afterAll(() => server?.destroy());

describeBackendContract('PostgreSQL', async (options) => {
  const store = openPostgresBackend({ url, poolSize: 4, ...options });
  return { store, cleanup: () => store.close() };
});

async function rows<R>(at: string, sql: string): Promise<R[]> {
  const client = new Client({ connectionString: at });
  await client.connect();
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('PostgreSQL backend specifics', () => {
  it('migrates a fresh database once when 6 instances start at once, and finds nothing to do afterwards', async () => {
    const fresh = await (server as PostgresServer).createDatabase();
    const stores = Array.from({ length: 6 }, () => openPostgresBackend({ url: fresh, poolSize: 2 }));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      await Promise.all(stores.map((s) => s.ping()));
      const applied = await rows<{ version: number }>(fresh, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const again = openPostgresBackend({ url: fresh });
      await again.migrate();
      await again.close();
      expect(await rows(fresh, 'SELECT version FROM schema_migrations')).toHaveLength(MIGRATIONS.length);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('stores keys as the sealed bytes it is given, nothing else', async () => {
    const store = openPostgresBackend({ url });
    try {
      const sealed = Buffer.from('sealed-blob-from-the-envelope-cipher');
      const resourceId = `sealed-${Date.now()}`;
      const key = { kid: crypto.randomUUID(), resourceId, sealed, origin: 'speke', createdAt: new Date() } as const;
      const lease = { resourceId, owner: 'o', kids: [key.kid], rotating: false, expiresAt: new Date(), version: 1 };
      const claim = { tenant: 'default', kind: 'speke', expected: 'absent' } as const;
      await store.leases.commitIssue({ lease, expectedLeaseVersion: undefined, newKeys: [key], claim });
      const stored = await rows<{ sealed: Buffer }>(url, `SELECT sealed FROM keys WHERE kid = '${key.kid}'`);
      expect(stored[0]?.sealed.equals(sealed)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('answers 503 with Retry-After when nothing listens, without the password in the error', async () => {
    const port = await freePort();
    const store = openPostgresBackend({ url: `postgres://keyplane:s3cret-pw@127.0.0.1:${port}/keyplane` });
    try {
      const err = await rejection(store.apiKeys.get('x'));
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect((err as ServiceUnavailableError).headers).toEqual({ 'Retry-After': '2' });
      expect(String((err as Error).message)).not.toContain('s3cret-pw');
      await expect(store.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
    } finally {
      await store.close();
    }
  });

  it('answers 503 while the server is down and recovers by itself once it is back (same backend)', async () => {
    const pg = server as PostgresServer;
    const idleErrors: Error[] = [];
    const store = openPostgresBackend({ url, poolSize: 3, onIdleError: (e) => idleErrors.push(e) });
    try {
      await store.audit.append([deliveryRecord('before-restart')]);
      pg.stop('immediate');
      try {
        const err = await rejection(store.audit.query({ resourceId: 'before-restart', limit: 10 }));
        expect(err).toBeInstanceOf(ServiceUnavailableError);
        await expect(store.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
      } finally {
        pg.start();
      }
      const page = await store.audit.query({ resourceId: 'before-restart', limit: 10 });
      expect(page.records.map((r) => r.resourceId)).toContain('before-restart');
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('answers 300 reads arriving at once (batched into shared statements) each with its own record', async () => {
    const store = openPostgresBackend({ url, poolSize: 2 });
    try {
      const claim = { tenant: 'default', kind: 'speke', expected: 'absent' } as const;
      const ids = Array.from({ length: 150 }, (_, i) => `batch-${i}-${crypto.randomUUID()}`);
      await Promise.all(
        ids.map((resourceId, i) =>
          store.leases.commitIssue({
            lease: { resourceId, owner: `o${i}`, kids: [], rotating: false, expiresAt: new Date(), version: 1 },
            expectedLeaseVersion: undefined,
            newKeys: [],
            claim: { ...claim, tenant: `t${i % 7}` },
          }),
        ),
      );
      const missing = ids.map((id) => `${id}-missing`);
      const [owners, leases] = await Promise.all([
        Promise.all([...ids, ...missing].map((id) => store.resources.get(id))),
        Promise.all(ids.map((id) => store.leases.get(id))),
      ]);
      expect(owners.slice(0, 150).map((o) => [o?.resourceId, o?.tenant])).toEqual(
        ids.map((id, i) => [id, `t${i % 7}`]),
      );
      expect(owners.slice(150)).toEqual(missing.map(() => undefined));
      expect(leases.map((l) => l?.owner)).toEqual(ids.map((_, i) => `o${i}`));
    } finally {
      await store.close();
    }
  });

  it('a statement timeout mid-transaction is a 503 (Retry-After 1) and leaves nothing half-written', async () => {
    const store = openPostgresBackend({ url, statementTimeoutMs: 300 });
    const blocker = new Client({ connectionString: url });
    await blocker.connect();
    try {
      const resourceId = `timeout-${crypto.randomUUID()}`;
      const kid = crypto.randomUUID();
      // Another session inserts the same KID and does not commit: our key insert waits on it.
      await blocker.query('BEGIN');
      await blocker.query(
        "INSERT INTO keys (kid, resource_id, sealed, origin, created_at) VALUES ($1, 'other', '\\x00', 'speke', 0)",
        [kid],
      );
      const key = { kid, resourceId, sealed: Buffer.from('s'), origin: 'speke', createdAt: new Date() } as const;
      const lease = { resourceId, owner: 'o', kids: [kid], rotating: false, expiresAt: new Date(), version: 1 };
      const claim = { tenant: 'default', kind: 'speke', expected: 'absent' } as const;
      const err = await rejection(
        store.leases.commitIssue({ lease, expectedLeaseVersion: undefined, newKeys: [key], claim }),
      );
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect((err as ServiceUnavailableError).headers).toEqual({ 'Retry-After': '1' });
      await blocker.query('ROLLBACK');
      expect(await store.leases.get(resourceId)).toBeUndefined();
      expect(await store.resources.get(resourceId)).toBeUndefined();
      expect((await store.keys.get([kid])).size).toBe(0);
    } finally {
      await blocker.end();
      await store.close();
    }
  });

  it('stores and looks up text with NUL characters (PostgreSQL text cannot hold them) without failing others', async () => {
    const store = openPostgresBackend({ url });
    try {
      const resourceId = `nul-${crypto.randomUUID()}`;
      const hostile = { ...deliveryRecord(`${resourceId}\0x`), reason: 'bad\0path' };
      const honest = deliveryRecord(resourceId);
      await Promise.all([store.audit.append([hostile]), store.audit.append([honest])]);
      const page = await store.audit.query({ resourceId, limit: 10 });
      expect(page.records.map((r) => r.id)).toEqual([honest.id]);
      const stored = await store.audit.query({ resourceId: `${resourceId}\0x`, limit: 10 });
      expect(stored.records.map((r) => [r.resourceId, r.reason])).toEqual([[`${resourceId}\uFFFDx`, 'bad\uFFFDpath']]);
      const [missing, none] = await Promise.all([store.resources.get('a\0b'), store.resources.get(resourceId)]);
      expect([missing, none]).toEqual([undefined, undefined]);
      const apiKey = {
        id: crypto.randomUUID(),
        name: 'enc\0oder',
        roles: ['encoder'],
        secretHash: Buffer.alloc(32),
        createdAt: new Date(),
        tenant: 'default',
      };
      await store.apiKeys.put(apiKey);
      expect((await store.apiKeys.get(apiKey.id))?.name).toBe('enc\uFFFDoder');
    } finally {
      await store.close();
    }
  });

  it('opens no more connections than KEYPLANE_DATABASE_POOL_SIZE under 60 concurrent commits', async () => {
    const fresh = await (server as PostgresServer).createDatabase();
    const store = openPostgresBackend({ url: fresh, poolSize: 3 });
    const observer = new Client({ connectionString: fresh });
    await observer.connect();
    try {
      await store.migrate();
      const claim = { tenant: 'default', kind: 'speke', expected: 'absent' } as const;
      const commits = Array.from({ length: 60 }, (_, i) => {
        const resourceId = `pool-${i}-${crypto.randomUUID()}`;
        const lease = { resourceId, owner: 'o', kids: [], rotating: false, expiresAt: new Date(), version: 1 };
        return store.leases.commitIssue({ lease, expectedLeaseVersion: undefined, newKeys: [], claim });
      });
      const seen: number[] = [];
      let done = false;
      const all = Promise.all(commits).finally(() => (done = true));
      while (!done) {
        const { rows } = await observer.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'keyplane'",
        );
        seen.push(rows[0]?.n ?? 0);
      }
      await all;
      expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    } finally {
      await observer.end();
      await store.close();
    }
  });

  it('prunes audit records past the retention on demand', async () => {
    let now = Date.now();
    const store = openPostgresBackend({ url, auditRetentionDays: 1, now: () => new Date(now) });
    try {
      const resourceId = `prune-${now}`;
      await store.audit.append([deliveryRecord(resourceId, now - 1000)]);
      now += 24 * 3600 * 1000;
      const run = await store.pruneExpiredAudit();
      expect(run?.deleted).toBeGreaterThanOrEqual(1);
      expect(await rows(url, `SELECT id FROM audit WHERE resource_id = '${resourceId}'`)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
