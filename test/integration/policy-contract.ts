import crypto from 'node:crypto';
import type { Backend } from '../../src/store/backend';
import type { ResourcePolicy } from '../../src/store/records';
import type { PolicyRepository } from '../../src/store/repositories';

const uid = (): string => crypto.randomUUID();

function policy(resourceId: string, overrides: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return {
    resourceId,
    allowIps: ['198.51.100.0/24', '2001:db8::/32'],
    denyIps: ['198.51.100.66'],
    allowOrigins: ['https://player.example.com', 'https://*.example.org:8443'],
    updatedAt: new Date(Date.now() - 1234),
    ...overrides,
  };
}

/** A policy as plain data, its date as epoch ms and absent lists left out (undefined and missing compare equal). */
const comparable = (p: ResourcePolicy | undefined) => p && { ...p, updatedAt: p.updatedAt.getTime() };

/**
 * The per-resource policy part of the Backend contract, for backends that keep policies (SQLite,
 * DynamoDB); `getStore` returns the store of the current test. Tests use fresh resource IDs.
 */
export function describePolicyStoreContract(getStore: () => Backend): void {
  describe('per-resource policies', () => {
    let policies: PolicyRepository;
    beforeEach(() => {
      const found = getStore().policies;
      if (!found) throw new Error(`store ${getStore().name} exposes no policies`);
      policies = found;
    });

    it('returns undefined for a resource without a policy', async () => {
      await expect(policies.get(uid())).resolves.toBeUndefined();
    });

    it('round-trips every list in order, and the update time to the millisecond', async () => {
      const stored = policy(uid(), { updatedAt: new Date(1_700_000_000_123) });
      await policies.put(stored);
      const read = await policies.get(stored.resourceId);
      expect(read?.updatedAt).toBeInstanceOf(Date);
      expect(comparable(read)).toEqual(comparable(stored));
    });

    it('keeps absent lists absent and empty lists empty', async () => {
      const onlyDeny: ResourcePolicy = { resourceId: uid(), denyIps: ['203.0.113.7'], updatedAt: new Date() };
      await policies.put(onlyDeny);
      const read = await policies.get(onlyDeny.resourceId);
      expect(comparable(read)).toEqual(comparable(onlyDeny));
      expect(read?.allowIps).toBeUndefined();
      expect(read?.allowOrigins).toBeUndefined();

      const empty = policy(uid(), { allowIps: [], denyIps: [], allowOrigins: [] });
      await policies.put(empty);
      expect(comparable(await policies.get(empty.resourceId))).toEqual(comparable(empty));
    });

    it('round-trips 100 entries per list', async () => {
      const many = Array.from({ length: 100 }, (_, i) => `10.${i}.0.0/16`);
      const big = policy(uid(), { allowIps: many, denyIps: [...many].reverse() });
      await policies.put(big);
      expect(comparable(await policies.get(big.resourceId))).toEqual(comparable(big));
    });

    it('replaces a policy whole on put (a list left out is gone)', async () => {
      const rid = uid();
      await policies.put(policy(rid));
      const second: ResourcePolicy = { resourceId: rid, allowIps: ['192.0.2.1'], updatedAt: new Date() };
      await policies.put(second);
      const read = await policies.get(rid);
      expect(comparable(read)).toEqual(comparable(second));
      expect(read?.denyIps).toBeUndefined();
    });

    it('deletes a policy, answering whether one existed', async () => {
      const rid = uid();
      await expect(policies.delete(rid)).resolves.toBe(false);
      await policies.put(policy(rid));
      await expect(policies.delete(rid)).resolves.toBe(true);
      await expect(policies.get(rid)).resolves.toBeUndefined();
      await expect(policies.delete(rid)).resolves.toBe(false);
    });

    it('keeps the policies of resources apart, whatever their ID characters and length', async () => {
      const prefix = uid();
      const ids = [prefix, `${prefix}.2`, `${prefix}:x@y+z=w~v_u-t`, `${prefix}${'a'.repeat(220)}`];
      for (const [i, rid] of ids.entries()) await policies.put(policy(rid, { denyIps: [`192.0.2.${i}`] }));
      for (const [i, rid] of ids.entries()) {
        expect((await policies.get(rid))?.denyIps).toEqual([`192.0.2.${i}`]);
      }
      await policies.delete(ids[1] as string);
      await expect(policies.get(ids[1] as string)).resolves.toBeUndefined();
      expect((await policies.get(ids[0] as string))?.denyIps).toEqual(['192.0.2.0']);
    });

    it('does not let a policy touch the keys, lease or static key of its resource', async () => {
      const store = getStore();
      const rid = uid();
      await policies.put(policy(rid));
      await expect(store.leases.get(rid)).resolves.toBeUndefined();
      await expect(store.staticKeys.get(rid)).resolves.toBeUndefined();
      await expect(policies.delete(rid)).resolves.toBe(true);
      await expect(store.leases.delete(rid)).resolves.toBe(false);
    });
  });
}
