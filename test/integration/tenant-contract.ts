import crypto from 'node:crypto';
import type { AuditRecord } from '../../src/audit/audit-record';
import type { Backend } from '../../src/store/backend';
import { ResourceRaceError, type ResourceClaim } from '../../src/store/ownership';
import { LeaseRaceError, type ApiKeyRecord, type IssueCommit, type StoredKey } from '../../src/store/records';
import { deliveryRecord } from '../helpers/audit-records';

const uid = (): string => crypto.randomUUID();
const tenantId = (): string => `t-${uid().slice(0, 8)}`;

function storedKey(resourceId: string, origin: StoredKey['origin'] = 'speke'): StoredKey {
  return { kid: uid(), resourceId, sealed: crypto.randomBytes(61), origin, createdAt: new Date() };
}

function firstCommit(resourceId: string, claim: ResourceClaim, key = storedKey(resourceId)): IssueCommit {
  return {
    lease: {
      resourceId,
      owner: `o-${uid()}`,
      kids: [key.kid],
      rotating: false,
      expiresAt: new Date(Date.now() + 600_000),
      version: 1,
    },
    expectedLeaseVersion: undefined,
    newKeys: [key],
    claim,
  };
}

const absent = (tenant: string): ResourceClaim => ({ tenant, kind: 'speke', expected: 'absent' });

function apiKey(tenant: string): ApiKeyRecord {
  const hash = crypto.createHash('sha256').update(uid()).digest();
  return { id: uid(), name: 'k', roles: ['encoder'], secretHash: hash, createdAt: new Date(), tenant };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (err: unknown) => err,
  );
}

/** The tenant part of the Backend contract: ownership claims, the race for a new resource ID, listings. */
export function describeTenantContract(getStore: () => Backend): void {
  describe('tenants: resource ownership', () => {
    it('a first commit claims the resource for its tenant, with the keys', async () => {
      const store = getStore();
      const rid = uid();
      const tenant = tenantId();
      await store.leases.commitIssue(firstCommit(rid, absent(tenant)));
      expect(await store.resources.get(rid)).toMatchObject({ resourceId: rid, tenant, kind: 'speke' });
      await expect(store.resources.get(uid())).resolves.toBeUndefined();
    });

    it('a commit whose claim fails writes nothing: no lease, no key', async () => {
      const store = getStore();
      const rid = uid();
      const owner = tenantId();
      await store.leases.commitIssue(firstCommit(rid, absent(owner)));
      await store.leases.delete(rid);
      const intruder = firstCommit(rid, absent(tenantId()));
      expect(await rejection(store.leases.commitIssue(intruder))).toBeInstanceOf(ResourceRaceError);
      const wrongPresent = firstCommit(rid, { tenant: tenantId(), kind: 'speke', expected: 'present' });
      expect(await rejection(store.leases.commitIssue(wrongPresent))).toBeInstanceOf(ResourceRaceError);
      await expect(store.leases.get(rid)).resolves.toBeUndefined();
      const kids = [intruder, wrongPresent].map((c) => c.newKeys[0]?.kid as string);
      expect((await store.keys.get(kids)).size).toBe(0);
      expect(await store.resources.get(rid)).toMatchObject({ tenant: owner });
      await store.leases.commitIssue(firstCommit(rid, { tenant: owner, kind: 'speke', expected: 'present' }));
    });

    it('a static key claims kind static; SPEKE claims and static puts on owned resources fail', async () => {
      const store = getStore();
      const rid = uid();
      const tenant = tenantId();
      const key = storedKey(rid, 'static');
      await store.staticKeys.put({ resourceId: rid, kid: key.kid, createdAt: key.createdAt }, key, tenant);
      expect(await store.resources.get(rid)).toMatchObject({ tenant, kind: 'static' });
      const asSpeke = firstCommit(rid, { tenant, kind: 'speke', expected: 'present' });
      expect(await rejection(store.leases.commitIssue(asSpeke))).toBeInstanceOf(ResourceRaceError);

      const spekeRid = uid();
      await store.leases.commitIssue(firstCommit(spekeRid, absent(tenant)));
      const late = storedKey(spekeRid, 'static');
      const put = store.staticKeys.put(
        { resourceId: spekeRid, kid: late.kid, createdAt: late.createdAt },
        late,
        tenant,
      );
      expect(await rejection(put)).toBeInstanceOf(ResourceRaceError);
      await expect(store.staticKeys.get(spekeRid)).resolves.toBeUndefined();
      expect((await store.keys.get([late.kid])).size).toBe(0);
    });

    it('two tenants racing with 20 first commits for one new resource ID: one owner, no loser key', async () => {
      const store = getStore();
      const rid = uid();
      const tenants = [tenantId(), tenantId()];
      const commits = Array.from({ length: 20 }, (_, i) => firstCommit(rid, absent(tenants[i % 2] as string)));
      const results = await Promise.allSettled(commits.map((c) => store.leases.commitIssue(c)));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect([LeaseRaceError, ResourceRaceError]).toContain(r.reason.constructor);
      }
      const winner = commits[winners[0] as number] as IssueCommit;
      expect(await store.resources.get(rid)).toMatchObject({ tenant: winner.claim.tenant });
      const found = await store.keys.get(commits.map((c) => c.newKeys[0]?.kid as string));
      expect([...found.keys()]).toEqual([winner.newKeys[0]?.kid]);
    });
  });

  describe('tenants: API keys, listing and audit', () => {
    it('stores each API key with its tenant and lists one tenant on request', async () => {
      const store = getStore();
      const tenant = tenantId();
      const mine = apiKey(tenant);
      const star = apiKey('*');
      await store.apiKeys.put(mine);
      await store.apiKeys.put(star);
      expect((await store.apiKeys.get(star.id))?.tenant).toBe('*');
      expect((await store.apiKeys.list({ tenant })).map((k) => k.id)).toEqual([mine.id]);
      expect((await store.apiKeys.list()).map((k) => k.id)).toEqual(expect.arrayContaining([mine.id, star.id]));
    });

    it('lists the tenants known from API keys and resources, with counts', async () => {
      const store = getStore();
      const [keysOnly, resourcesOnly] = [tenantId(), tenantId()];
      await store.apiKeys.put(apiKey(keysOnly));
      await store.apiKeys.put(apiKey(keysOnly));
      await store.leases.commitIssue(firstCommit(uid(), absent(resourcesOnly)));
      const key = storedKey(uid(), 'static');
      const staticRecord = { resourceId: key.resourceId, kid: key.kid, createdAt: key.createdAt };
      await store.staticKeys.put(staticRecord, key, resourcesOnly);
      const listed = await store.tenants.list();
      expect(listed.find((t) => t.tenant === keysOnly)).toEqual({ tenant: keysOnly, apiKeys: 2, resources: 0 });
      expect(listed.find((t) => t.tenant === resourcesOnly)).toEqual({
        tenant: resourcesOnly,
        apiKeys: 0,
        resources: 2,
      });
    });

    it('filters audit records by tenant, records without one counting as default', async () => {
      const store = getStore();
      const [a, b] = [tenantId(), tenantId()];
      const rid = uid();
      const since = new Date(Date.now() - 1000);
      const ofA: AuditRecord = { ...deliveryRecord(rid), tenant: a };
      const ofB: AuditRecord = { ...deliveryRecord(rid), tenant: b };
      const legacy = deliveryRecord(rid);
      await store.audit.append([ofA, ofB, legacy]);
      const ids = async (q: { resourceId?: string; tenant?: string }) =>
        (await store.audit.query({ ...q, since, limit: 1000 })).records.map((r) => r.id);
      expect(await ids({ resourceId: rid, tenant: a })).toEqual([ofA.id]);
      expect(await ids({ tenant: b })).toEqual([ofB.id]);
      expect(await ids({ resourceId: rid, tenant: 'default' })).toEqual([legacy.id]);
      expect(await ids({ tenant: 'default' })).toContain(legacy.id);
      expect(await ids({ tenant: 'default' })).not.toContain(ofA.id);
      expect((await ids({ resourceId: rid })).sort()).toEqual([ofA.id, ofB.id, legacy.id].sort());
    });

    it('keeps records of every tenant (`*`) out of every tenant filter, default included', async () => {
      const store = getStore();
      const rid = uid();
      const since = new Date(Date.now() - 1000);
      const ofAll: AuditRecord = { ...deliveryRecord(rid), tenant: '*' };
      await store.audit.append([ofAll]);
      const ids = async (q: { resourceId?: string; tenant?: string }) =>
        (await store.audit.query({ ...q, since, limit: 1000 })).records.map((r) => r.id);
      expect(await ids({ resourceId: rid, tenant: 'default' })).toEqual([]);
      expect(await ids({ tenant: 'default' })).not.toContain(ofAll.id);
      expect(await ids({ resourceId: rid })).toEqual([ofAll.id]);
      expect((await store.audit.query({ resourceId: rid, limit: 10 })).records[0]?.tenant).toBe('*');
    });
  });
}
