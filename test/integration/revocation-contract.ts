import crypto from 'node:crypto';
import type { Backend } from '../../src/store/backend';
import type { RevocationRecord } from '../../src/store/revocations';

const inAnHour = () => new Date(Date.now() + 3600_000);

function revocation(overrides: Partial<RevocationRecord> = {}): RevocationRecord {
  return {
    jti: crypto.randomUUID(),
    revokedBy: 'admin',
    revokedAt: new Date(1_700_000_000_123),
    expiresAt: inAnHour(),
    ...overrides,
  };
}

const comparable = (r: RevocationRecord) => ({
  ...r,
  revokedAt: r.revokedAt.getTime(),
  expiresAt: r.expiresAt.getTime(),
});

/** The token-revocation part of the Backend contract (SQLite, DynamoDB); tests use fresh jtis. */
export function describeRevocationContract(getStore: () => Backend): void {
  describe('token revocations', () => {
    it('knows no revocation of a jti never revoked', async () => {
      await expect(getStore().revocations.get(crypto.randomUUID())).resolves.toEqual([]);
    });

    it('round-trips a revocation with and without a tenant, to the millisecond', async () => {
      const store = getStore();
      const plain = revocation();
      const scoped = revocation({ tenant: 'acme', revokedBy: 'token-issuer-1' });
      await store.revocations.put(plain);
      await store.revocations.put(scoped);
      expect((await store.revocations.get(plain.jti)).map(comparable)).toEqual([comparable(plain)]);
      expect((await store.revocations.get(scoped.jti)).map(comparable)).toEqual([comparable(scoped)]);
    });

    it('is idempotent: revoking again keeps the first record', async () => {
      const store = getStore();
      const first = revocation();
      await store.revocations.put(first);
      await store.revocations.put({ ...first, revokedBy: 'someone-else', revokedAt: new Date() });
      expect((await store.revocations.get(first.jti)).map(comparable)).toEqual([comparable(first)]);
    });

    it('keeps one record per tenant for the same jti (one tenant cannot shadow another)', async () => {
      const store = getStore();
      const jti = crypto.randomUUID();
      await store.revocations.put(revocation({ jti, tenant: 'a' }));
      await store.revocations.put(revocation({ jti, tenant: 'b' }));
      const tenants = (await store.revocations.get(jti)).map((r) => r.tenant).sort();
      expect(tenants).toEqual(['a', 'b']);
    });

    it('records a new revocation of a jti whose earlier one expired (an expired record is no guard)', async () => {
      const store = getStore();
      const jti = crypto.randomUUID();
      await store.revocations.put(revocation({ jti, tenant: 'acme', expiresAt: new Date(Date.now() - 1000) }));
      const again = revocation({ jti, tenant: 'acme', revokedBy: 'admin-2' });
      await store.revocations.put(again);
      expect((await store.revocations.get(jti)).map(comparable)).toEqual([comparable(again)]);
    });

    it('returns no revocation past its expiry (no token with that jti can verify any more)', async () => {
      const store = getStore();
      const old = revocation({ expiresAt: new Date(Date.now() - 1000) });
      await store.revocations.put(old);
      await expect(store.revocations.get(old.jti)).resolves.toEqual([]);
    });
  });
}
