import crypto from 'node:crypto';
import type { Backend } from '../../src/store/backend';
import type { ApiKeyRecord, IssueCommit, Lease, StoredKey } from '../../src/store/records';
import { KeyRaceError, LeaseRaceError, StaticKeyExistsError } from '../../src/store/records';
import { describeAuditContract } from './audit-contract';
import { describeRevocationContract } from './revocation-contract';
import { describePolicyStoreContract } from './policy-contract';
import { describeTenantContract } from './tenant-contract';
import { describeTransferContract } from './transfer-contract';

/** What a contract run needs from a backend: a ready store and a way to dispose of it. */
export interface BackendFixture {
  store: Backend;
  cleanup: () => Promise<void>;
}

/** Settings a contract test may ask of a backend's store (absent: the defaults, audit kept forever). */
export interface BackendFixtureOptions {
  auditRetentionDays?: number;
  now?: () => Date;
}

/** Makes a store for one test; backends may share state between calls (same table, same kind of file). */
export type MakeBackend = (options?: BackendFixtureOptions) => Promise<BackendFixture>;

const uid = (): string => crypto.randomUUID();

function lease(resourceId: string, overrides: Partial<Lease> = {}): Lease {
  return {
    resourceId,
    owner: 'owner-a',
    kids: [],
    rotating: false,
    expiresAt: new Date(Date.now() + 600_000),
    version: 1,
    ...overrides,
  };
}

function storedKey(resourceId: string, kid = uid(), origin: StoredKey['origin'] = 'speke'): StoredKey {
  return { kid, resourceId, sealed: crypto.randomBytes(61), origin, createdAt: new Date(Date.now() - 1000) };
}

function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: uid(),
    name: 'encoder',
    roles: ['speke', 'keys:read'],
    secretHash: crypto.createHash('sha256').update(uid()).digest(),
    createdAt: new Date(Date.now() - 5000),
    tenant: 'default',
    ...overrides,
  };
}

function expectSameLease(actual: Lease | undefined, expected: Lease): void {
  expect(actual).toBeDefined();
  expect({ ...actual, expiresAt: actual?.expiresAt.getTime() }).toEqual({
    ...expected,
    expiresAt: expected.expiresAt.getTime(),
  });
}

function expectSameKey(actual: StoredKey | undefined, expected: StoredKey): void {
  expect(actual).toBeDefined();
  expect(Buffer.isBuffer(actual?.sealed)).toBe(true);
  expect({ ...actual, sealed: actual?.sealed.toString('hex'), createdAt: actual?.createdAt.getTime() }).toEqual({
    ...expected,
    sealed: expected.sealed.toString('hex'),
    createdAt: expected.createdAt.getTime(),
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

/**
 * The store with commits that name no claim making the one a single-tenant caller would: claim the
 * resource for `default` on the first commit, check it on later ones (the lease tests predate tenants).
 */
type Commit = Omit<IssueCommit, 'claim'> & Partial<Pick<IssueCommit, 'claim'>>;
type ContractStore = Omit<Backend, 'leases'> & {
  leases: Omit<Backend['leases'], 'commitIssue'> & { commitIssue(c: Commit): Promise<void> };
};

function withDefaultClaims(store: Backend): ContractStore {
  const commitIssue = async (c: Commit) => {
    const owner = await store.resources.get(c.lease.resourceId);
    const expected = owner ? 'present' : 'absent';
    return store.leases.commitIssue({ claim: { tenant: 'default', kind: 'speke', expected }, ...c });
  };
  return { ...store, leases: { ...store.leases, commitIssue } };
}

/**
 * The behaviour every Backend must share (SQLite, DynamoDB, ...). `makeStore` is
 * called before each test; backends may share state between calls, so tests use fresh IDs and
 * never assume an empty store.
 */
export function describeBackendContract(name: string, makeStore: MakeBackend): void {
  describe(`Backend contract: ${name}`, () => {
    let raw: Backend;
    let store: ContractStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store: raw, cleanup } = await makeStore());
      store = withDefaultClaims(raw);
    });
    afterEach(async () => {
      await cleanup();
    });

    describeAuditContract(() => raw, makeStore);
    describePolicyStoreContract(() => raw);
    describeTenantContract(() => raw);
    describeRevocationContract(() => raw);
    describeTransferContract(() => raw, name);

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    describe('leases and commitIssue', () => {
      it('returns undefined for an unknown resource', async () => {
        await expect(store.leases.get(uid())).resolves.toBeUndefined();
      });

      it('creates a lease with its keys when none existed', async () => {
        const rid = uid();
        const keys = [storedKey(rid), storedKey(rid)];
        const first = lease(rid, { kids: keys.map((k) => k.kid), rotating: true });
        await store.leases.commitIssue({ lease: first, expectedLeaseVersion: undefined, newKeys: keys });
        expectSameLease(await store.leases.get(rid), first);
        const found = await store.keys.get(keys.map((k) => k.kid));
        for (const key of keys) expectSameKey(found.get(key.kid), key);
      });

      it('round-trips an empty KID list and a long one, in order', async () => {
        const empty = lease(uid(), { kids: [] });
        const long = lease(uid(), {
          kids: Array.from({ length: 256 }, (_, i) => `${String(255 - i).padStart(3, '0')}-${uid()}`),
        });
        await store.leases.commitIssue({ lease: empty, expectedLeaseVersion: undefined, newKeys: [] });
        await store.leases.commitIssue({ lease: long, expectedLeaseVersion: undefined, newKeys: [] });
        expectSameLease(await store.leases.get(empty.resourceId), empty);
        expectSameLease(await store.leases.get(long.resourceId), long);
      });

      it('updates a lease when the expected version matches', async () => {
        const rid = uid();
        const v1 = lease(rid, { kids: ['a'] });
        await store.leases.commitIssue({ lease: v1, expectedLeaseVersion: undefined, newKeys: [] });
        const key = storedKey(rid);
        const v2 = lease(rid, { kids: ['a', key.kid], version: 2, expiresAt: new Date(Date.now() + 900_000) });
        await store.leases.commitIssue({ lease: v2, expectedLeaseVersion: 1, newKeys: [key] });
        expectSameLease(await store.leases.get(rid), v2);
        expectSameKey((await store.keys.get([key.kid])).get(key.kid), key);
      });

      it('rejects a stale expected version with LeaseRaceError and writes none of the commit', async () => {
        const rid = uid();
        const v1 = lease(rid);
        await store.leases.commitIssue({ lease: v1, expectedLeaseVersion: undefined, newKeys: [] });
        const v2 = lease(rid, { version: 2, kids: ['x'] });
        await store.leases.commitIssue({ lease: v2, expectedLeaseVersion: 1, newKeys: [] });

        const orphan = storedKey(rid);
        const stale = lease(rid, { version: 2, owner: 'owner-b', kids: [orphan.kid] });
        const err = await rejection(
          store.leases.commitIssue({ lease: stale, expectedLeaseVersion: 1, newKeys: [orphan] }),
        );
        expect(err).toBeInstanceOf(LeaseRaceError);
        expect((err as LeaseRaceError).resourceId).toBe(rid);
        const existing = (err as LeaseRaceError).existing;
        if (existing) expectSameLease(existing, v2);
        expectSameLease(await store.leases.get(rid), v2);
        expect((await store.keys.get([orphan.kid])).size).toBe(0);
      });

      it('rejects "no lease expected" when one exists, and writes none of the commit', async () => {
        const rid = uid();
        const v1 = lease(rid);
        await store.leases.commitIssue({ lease: v1, expectedLeaseVersion: undefined, newKeys: [] });
        const orphan = storedKey(rid);
        const err = await rejection(
          store.leases.commitIssue({
            lease: lease(rid, { owner: 'owner-b' }),
            expectedLeaseVersion: undefined,
            newKeys: [orphan],
          }),
        );
        expect(err).toBeInstanceOf(LeaseRaceError);
        expectSameLease(await store.leases.get(rid), v1);
        expect((await store.keys.get([orphan.kid])).size).toBe(0);
      });

      it('rejects an expected version when the lease does not exist', async () => {
        const rid = uid();
        const orphan = storedKey(rid);
        const err = await rejection(
          store.leases.commitIssue({ lease: lease(rid, { version: 4 }), expectedLeaseVersion: 3, newKeys: [orphan] }),
        );
        expect(err).toBeInstanceOf(LeaseRaceError);
        await expect(store.leases.get(rid)).resolves.toBeUndefined();
        expect((await store.keys.get([orphan.kid])).size).toBe(0);
      });

      it('inserts keys only if absent: KeyRaceError, and neither the lease nor other keys change', async () => {
        const rid = uid();
        const original = storedKey(rid);
        const v1 = lease(rid, { kids: [original.kid] });
        await store.leases.commitIssue({ lease: v1, expectedLeaseVersion: undefined, newKeys: [original] });

        const fresh = storedKey(rid);
        const duplicate = { ...storedKey(rid, original.kid), sealed: crypto.randomBytes(61) };
        const v2 = lease(rid, { version: 2, kids: [original.kid, fresh.kid] });
        const err = await rejection(
          store.leases.commitIssue({ lease: v2, expectedLeaseVersion: 1, newKeys: [fresh, duplicate] }),
        );
        expect(err).toBeInstanceOf(KeyRaceError);
        expect((err as KeyRaceError).kid).toBe(original.kid);
        expectSameLease(await store.leases.get(rid), v1);
        const found = await store.keys.get([original.kid, fresh.kid]);
        expect([...found.keys()]).toEqual([original.kid]);
        expectSameKey(found.get(original.kid), original);
      });

      it('treats a KID as global: the same KID cannot be inserted for another resource', async () => {
        const key = storedKey(uid());
        await store.leases.commitIssue({
          lease: lease(key.resourceId),
          expectedLeaseVersion: undefined,
          newKeys: [key],
        });
        const other = uid();
        const err = await rejection(
          store.leases.commitIssue({
            lease: lease(other),
            expectedLeaseVersion: undefined,
            newKeys: [storedKey(other, key.kid)],
          }),
        );
        expect(err).toBeInstanceOf(KeyRaceError);
        await expect(store.leases.get(other)).resolves.toBeUndefined();
        expectSameKey((await store.keys.get([key.kid])).get(key.kid), key);
      });

      it('lets exactly one of 20 concurrent first commits for a resource win', async () => {
        const rid = uid();
        const attempts = Array.from({ length: 20 }, (_, i) => {
          const key = storedKey(rid);
          return { key, lease: lease(rid, { owner: `owner-${i}`, kids: [key.kid] }) };
        });
        const results = await Promise.allSettled(
          attempts.map((a) =>
            store.leases.commitIssue({ lease: a.lease, expectedLeaseVersion: undefined, newKeys: [a.key] }),
          ),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LeaseRaceError);
        const winner = attempts[winners[0] ?? -1];
        expectSameLease(await store.leases.get(rid), winner?.lease as Lease);
        const found = await store.keys.get(attempts.map((a) => a.key.kid));
        expect([...found.keys()]).toEqual([winner?.key.kid]);
      });

      it('lets exactly one of 20 concurrent updates of the same version win', async () => {
        const rid = uid();
        await store.leases.commitIssue({ lease: lease(rid), expectedLeaseVersion: undefined, newKeys: [] });
        const attempts = Array.from({ length: 20 }, (_, i) => lease(rid, { owner: `owner-${i}`, version: 2 }));
        const results = await Promise.allSettled(
          attempts.map((l) => store.leases.commitIssue({ lease: l, expectedLeaseVersion: 1, newKeys: [] })),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LeaseRaceError);
        expectSameLease(await store.leases.get(rid), attempts[winners[0] ?? -1] as Lease);
      });

      it('deletes leases and reports whether one existed', async () => {
        const rid = uid();
        await expect(store.leases.delete(rid)).resolves.toBe(false);
        const key = storedKey(rid);
        await store.leases.commitIssue({
          lease: lease(rid, { kids: [key.kid] }),
          expectedLeaseVersion: undefined,
          newKeys: [key],
        });
        await expect(store.leases.delete(rid)).resolves.toBe(true);
        await expect(store.leases.get(rid)).resolves.toBeUndefined();
        await expect(store.leases.delete(rid)).resolves.toBe(false);
        expectSameKey((await store.keys.get([key.kid])).get(key.kid), key);
        const again = lease(rid, { owner: 'owner-b' });
        await store.leases.commitIssue({ lease: again, expectedLeaseVersion: undefined, newKeys: [] });
        expectSameLease(await store.leases.get(rid), again);
      });

      it('deletes a lease for its owner only while that owner holds it', async () => {
        const rid = uid();
        await expect(store.leases.delete(rid, 'owner-a')).resolves.toBe(false);
        const held = lease(rid, { owner: 'owner-a' });
        await store.leases.commitIssue({ lease: held, expectedLeaseVersion: undefined, newKeys: [] });
        await expect(store.leases.delete(rid, 'owner-b')).resolves.toBe(false);
        expectSameLease(await store.leases.get(rid), held);
        await expect(store.leases.delete(rid, 'owner-a')).resolves.toBe(true);
        await expect(store.leases.get(rid)).resolves.toBeUndefined();
        await expect(store.leases.delete(rid, 'owner-a')).resolves.toBe(false);
      });
    });

    describe('getKeys', () => {
      it('returns an empty map for no KIDs and for unknown KIDs', async () => {
        expect((await store.keys.get([])).size).toBe(0);
        expect((await store.keys.get([uid(), uid()])).size).toBe(0);
      });

      it('returns present keys of any resource and omits missing ones', async () => {
        const a = storedKey(uid());
        const b = storedKey(uid(), uid(), 'static');
        await store.leases.commitIssue({ lease: lease(a.resourceId), expectedLeaseVersion: undefined, newKeys: [a] });
        await store.leases.commitIssue({ lease: lease(b.resourceId), expectedLeaseVersion: undefined, newKeys: [b] });
        const missing = uid();
        const found = await store.keys.get([missing, a.kid, b.kid, a.kid]);
        expect(new Set(found.keys())).toEqual(new Set([a.kid, b.kid]));
        expectSameKey(found.get(a.kid), a);
        expectSameKey(found.get(b.kid), b);
        expect(found.has(missing)).toBe(false);
      });

      it('reads many KIDs at once', async () => {
        const rid = uid();
        const keys = Array.from({ length: 150 }, () => storedKey(rid));
        for (let i = 0; i < keys.length; i += 50) {
          const batch = keys.slice(i, i + 50);
          const version = i / 50 + 1;
          await store.leases.commitIssue({
            lease: lease(rid, { version }),
            expectedLeaseVersion: version === 1 ? undefined : version - 1,
            newKeys: batch,
          });
        }
        const missing = Array.from({ length: 60 }, () => uid());
        const found = await store.keys.get([...missing, ...keys.map((k) => k.kid)]);
        expect(found.size).toBe(150);
        for (const key of keys) expectSameKey(found.get(key.kid), key);
      });
    });

    describe('static keys', () => {
      it('stores the registration and its key together', async () => {
        const rid = uid();
        await expect(store.staticKeys.get(rid)).resolves.toBeUndefined();
        const key = storedKey(rid, uid(), 'static');
        const record = { resourceId: rid, kid: key.kid, createdAt: key.createdAt };
        await store.staticKeys.put(record, key, 'default');
        const stored = await store.staticKeys.get(rid);
        expect(stored && { ...stored, createdAt: stored.createdAt.getTime() }).toEqual({
          ...record,
          createdAt: record.createdAt.getTime(),
        });
        expectSameKey((await store.keys.get([key.kid])).get(key.kid), key);
      });

      it('refuses a second registration with StaticKeyExistsError carrying the existing record', async () => {
        const rid = uid();
        const first = storedKey(rid, uid(), 'static');
        await store.staticKeys.put({ resourceId: rid, kid: first.kid, createdAt: first.createdAt }, first, 'default');
        const second = storedKey(rid, uid(), 'static');
        const err = await rejection(
          store.staticKeys.put({ resourceId: rid, kid: second.kid, createdAt: new Date() }, second, 'default'),
        );
        expect(err).toBeInstanceOf(StaticKeyExistsError);
        const existing = (err as StaticKeyExistsError).existing;
        expect({ ...existing, createdAt: existing.createdAt.getTime() }).toEqual({
          resourceId: rid,
          kid: first.kid,
          createdAt: first.createdAt.getTime(),
        });
        expect((await store.keys.get([second.kid])).size).toBe(0);
        expect((await store.staticKeys.get(rid))?.kid).toBe(first.kid);
      });

      it('refuses a registration whose KID already exists, writing nothing', async () => {
        const taken = storedKey(uid());
        await store.leases.commitIssue({
          lease: lease(taken.resourceId),
          expectedLeaseVersion: undefined,
          newKeys: [taken],
        });
        const rid = uid();
        const key = storedKey(rid, taken.kid, 'static');
        const err = await rejection(
          store.staticKeys.put({ resourceId: rid, kid: key.kid, createdAt: key.createdAt }, key, 'default'),
        );
        expect(err).toBeInstanceOf(KeyRaceError);
        await expect(store.staticKeys.get(rid)).resolves.toBeUndefined();
        expectSameKey((await store.keys.get([taken.kid])).get(taken.kid), taken);
      });
    });

    describe('API keys', () => {
      const comparable = (r: ApiKeyRecord | undefined) =>
        r && {
          ...r,
          secretHash: r.secretHash.toString('hex'),
          createdAt: r.createdAt.getTime(),
          revokedAt: r.revokedAt?.getTime(),
        };

      it('puts, gets and lists API keys', async () => {
        const active = apiKey();
        const revoked = apiKey({ name: 'old', roles: [], revokedAt: new Date(Date.now() - 1000) });
        await store.apiKeys.put(active);
        await store.apiKeys.put(revoked);
        expect(comparable(await store.apiKeys.get(active.id))).toEqual(comparable(active));
        expect(comparable(await store.apiKeys.get(revoked.id))).toEqual(comparable(revoked));
        await expect(store.apiKeys.get(uid())).resolves.toBeUndefined();
        const listed = await store.apiKeys.list();
        const mine = listed.filter((r) => r.id === active.id || r.id === revoked.id).map(comparable);
        expect(mine).toHaveLength(2);
        expect(mine).toEqual(expect.arrayContaining([comparable(active), comparable(revoked)]));
      });

      it('revokes an active key once', async () => {
        const record = apiKey();
        await store.apiKeys.put(record);
        const at = new Date(Date.now() + 1000);
        await expect(store.apiKeys.revoke(record.id, at)).resolves.toBe(true);
        expect((await store.apiKeys.get(record.id))?.revokedAt?.getTime()).toBe(at.getTime());
        await expect(store.apiKeys.revoke(record.id, new Date())).resolves.toBe(false);
        expect((await store.apiKeys.get(record.id))?.revokedAt?.getTime()).toBe(at.getTime());
        await expect(store.apiKeys.revoke(uid(), new Date())).resolves.toBe(false);
        await expect(store.apiKeys.get(record.id)).resolves.toBeDefined();
      });
    });
  });
}
