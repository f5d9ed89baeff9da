import crypto from 'node:crypto';
import type { KeyStore } from '../../src/store/key-store';
import { policyStoreOf, type PolicyStore, type ResourcePolicy } from '../../src/store/policy-store';

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
 * The per-resource policy part of the KeyStore contract, for backends that keep policies (SQLite,
 * DynamoDB); `getStore` returns the store of the current test. Tests use fresh resource IDs.
 */
export function describePolicyStoreContract(getStore: () => KeyStore): void {
  describe('per-resource policies', () => {
    let policies: PolicyStore;
    beforeEach(() => {
      const found = policyStoreOf(getStore());
      if (!found) throw new Error(`store ${getStore().name} exposes no policies`);
      policies = found;
    });

    it('returns undefined for a resource without a policy', async () => {
      await expect(policies.getPolicy(uid())).resolves.toBeUndefined();
    });

    it('round-trips every list in order, and the update time to the millisecond', async () => {
      const stored = policy(uid(), { updatedAt: new Date(1_700_000_000_123) });
      await policies.putPolicy(stored);
      const read = await policies.getPolicy(stored.resourceId);
      expect(read?.updatedAt).toBeInstanceOf(Date);
      expect(comparable(read)).toEqual(comparable(stored));
    });

    it('keeps absent lists absent and empty lists empty', async () => {
      const onlyDeny: ResourcePolicy = { resourceId: uid(), denyIps: ['203.0.113.7'], updatedAt: new Date() };
      await policies.putPolicy(onlyDeny);
      const read = await policies.getPolicy(onlyDeny.resourceId);
      expect(comparable(read)).toEqual(comparable(onlyDeny));
      expect(read?.allowIps).toBeUndefined();
      expect(read?.allowOrigins).toBeUndefined();

      const empty = policy(uid(), { allowIps: [], denyIps: [], allowOrigins: [] });
      await policies.putPolicy(empty);
      expect(comparable(await policies.getPolicy(empty.resourceId))).toEqual(comparable(empty));
    });

    it('round-trips 100 entries per list', async () => {
      const many = Array.from({ length: 100 }, (_, i) => `10.${i}.0.0/16`);
      const big = policy(uid(), { allowIps: many, denyIps: [...many].reverse() });
      await policies.putPolicy(big);
      expect(comparable(await policies.getPolicy(big.resourceId))).toEqual(comparable(big));
    });

    it('replaces a policy whole on put (a list left out is gone)', async () => {
      const rid = uid();
      await policies.putPolicy(policy(rid));
      const second: ResourcePolicy = { resourceId: rid, allowIps: ['192.0.2.1'], updatedAt: new Date() };
      await policies.putPolicy(second);
      const read = await policies.getPolicy(rid);
      expect(comparable(read)).toEqual(comparable(second));
      expect(read?.denyIps).toBeUndefined();
    });

    it('deletes a policy, answering whether one existed', async () => {
      const rid = uid();
      await expect(policies.deletePolicy(rid)).resolves.toBe(false);
      await policies.putPolicy(policy(rid));
      await expect(policies.deletePolicy(rid)).resolves.toBe(true);
      await expect(policies.getPolicy(rid)).resolves.toBeUndefined();
      await expect(policies.deletePolicy(rid)).resolves.toBe(false);
    });

    it('keeps the policies of resources apart, whatever their ID characters and length', async () => {
      const prefix = uid();
      const ids = [prefix, `${prefix}.2`, `${prefix}:x@y+z=w~v_u-t`, `${prefix}${'a'.repeat(220)}`];
      for (const [i, rid] of ids.entries()) await policies.putPolicy(policy(rid, { denyIps: [`192.0.2.${i}`] }));
      for (const [i, rid] of ids.entries()) {
        expect((await policies.getPolicy(rid))?.denyIps).toEqual([`192.0.2.${i}`]);
      }
      await policies.deletePolicy(ids[1] as string);
      await expect(policies.getPolicy(ids[1] as string)).resolves.toBeUndefined();
      expect((await policies.getPolicy(ids[0] as string))?.denyIps).toEqual(['192.0.2.0']);
    });

    it('does not let a policy touch the keys, lease or static key of its resource', async () => {
      const store = getStore();
      const rid = uid();
      await policies.putPolicy(policy(rid));
      await expect(store.getLease(rid)).resolves.toBeUndefined();
      await expect(store.getStaticKey(rid)).resolves.toBeUndefined();
      await expect(policies.deletePolicy(rid)).resolves.toBe(true);
      await expect(store.deleteLease(rid)).resolves.toBe(false);
    });
  });
}
