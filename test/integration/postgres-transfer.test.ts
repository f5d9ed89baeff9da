import crypto from 'node:crypto';
import { PostgresTransferRepository } from '../../src/store/postgres/transfer';
import { openPostgresBackend, type PostgresBackend } from '../../src/store/postgres';
import { TRANSFER_KINDS, identityOf, type TransferRecord } from '../../src/store/transfer';
import { deliveryRecord } from '../helpers/audit-records';
import { startPostgres, type PostgresServer } from '../helpers/postgres';

let server: PostgresServer | undefined;
const stores: PostgresBackend[] = [];

beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  server?.destroy();
});

async function fresh(): Promise<PostgresBackend> {
  const store = openPostgresBackend({ url: await (server as PostgresServer).createDatabase(), poolSize: 3 });
  stores.push(store);
  await store.migrate();
  return store;
}

/** A store with a few records of every kind. */
async function seed(store: PostgresBackend): Promise<void> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  for (let i = 0; i < 7; i++) {
    const resourceId = `movie-${i}`;
    const kids = [crypto.randomUUID(), crypto.randomUUID()];
    await store.leases.commitIssue({
      lease: { resourceId, owner: `enc-${i}`, kids, rotating: i % 2 === 0, expiresAt: now, version: 1 },
      expectedLeaseVersion: undefined,
      newKeys: kids.map((kid) => ({
        kid,
        resourceId,
        sealed: crypto.randomBytes(40),
        origin: 'speke',
        createdAt: now,
      })),
      claim: { tenant: `t${i % 3}`, kind: 'speke', expected: 'absent' },
    });
    await store.audit.append([deliveryRecord(resourceId, now)]);
  }
  const kid = crypto.randomUUID();
  const key = {
    kid,
    resourceId: 'static-1',
    sealed: crypto.randomBytes(40),
    origin: 'static',
    createdAt: now,
  } as const;
  await store.staticKeys.put({ resourceId: 'static-1', kid, createdAt: now }, key, 't1');
  await store.apiKeys.put({
    id: 'ak-1', name: 'enc', roles: ['encoder'], secretHash: crypto.randomBytes(32), createdAt: now, tenant: 't0',
  }); // prettier-ignore
  await store.policies.put({ resourceId: 'movie-1', allowIps: ['10.0.0.0/8'], updatedAt: now });
  await store.revocations.put({
    jti: 'j1',
    tenant: 't2',
    revokedBy: 'ak-1',
    revokedAt: now,
    expiresAt: new Date(now.getTime() + 3600_000),
  });
  await store.revocations.put({
    jti: 'j1',
    revokedBy: 'admin',
    revokedAt: now,
    expiresAt: new Date(now.getTime() + 3600_000),
  });
}

async function scanAll(transfer: PostgresTransferRepository, limit: number): Promise<TransferRecord[]> {
  const all: TransferRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await transfer.scan(cursor, limit);
    expect(page.records.length).toBeLessThanOrEqual(limit);
    all.push(...page.records);
    cursor = page.next;
  } while (cursor !== undefined);
  return all;
}

describe('PostgreSQL transfer (migrate, import, export --all)', () => {
  it('scans every record of every kind in pages, copies them without overwriting, and finds each', async () => {
    const source = await fresh();
    await seed(source);
    const from = source.transfer as PostgresTransferRepository;
    const records = await scanAll(from, 4);
    const counts = Object.fromEntries(TRANSFER_KINDS.map((k) => [k, records.filter((r) => r.kind === k).length]));
    expect(counts).toEqual({
      resource: 8,
      key: 15,
      staticKey: 1,
      lease: 7,
      apiKey: 1,
      policy: 1,
      revocation: 2,
      audit: 7,
    });
    expect(await scanAll(from, 1000)).toEqual(records);

    const target = await fresh();
    const to = target.transfer as PostgresTransferRepository;
    for (const r of records) expect(await to.insert(r)).toBeUndefined();
    expect(await scanAll(to, 5)).toEqual(records);
    for (const r of records) {
      expect(await to.find(r.kind, identityOf(r))).toEqual(r);
      expect(await to.insert(r)).toEqual(r); // present: nothing written, the existing record returned
    }
    const keys = await to.keysOf('movie-3', 10);
    expect(keys.map((k) => k.kid).sort()).toEqual(
      records.flatMap((r) => (r.kind === 'key' && r.record.resourceId === 'movie-3' ? [r.record.kid] : [])).sort(),
    );
    expect(await target.tenants.list()).toEqual(await source.tenants.list());
  });
});
