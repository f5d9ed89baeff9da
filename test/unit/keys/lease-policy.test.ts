import { LeaseConflictError } from '../../../src/errors';
import { decideLease, firstLeaseVersion, MAX_LEASE_KIDS } from '../../../src/keys/lease-policy';
import type { Lease } from '../../../src/store/records';

const now = new Date('2026-11-23T10:00:00Z');
const ttl = 600;
const lease = (over: Partial<Lease> = {}): Lease => ({
  resourceId: 'r1',
  owner: 'enc-a',
  kids: ['k1'],
  rotating: false,
  expiresAt: new Date(now.getTime() + 300_000),
  version: 3,
  ...over,
});
const req = (over: Partial<{ owner: string; kids: string[]; rotating: boolean; storedKids: Set<string> }> = {}) => ({
  resourceId: 'r1',
  owner: 'enc-a',
  kids: ['k1'],
  rotating: false,
  ...over,
});

describe('decideLease', () => {
  it('opens a lease when there is none', () => {
    const d = decideLease(undefined, req(), now, ttl, 77);
    expect(d).toMatchObject({ expectedVersion: undefined, mustWrite: true });
    expect(d.lease).toMatchObject({ owner: 'enc-a', kids: ['k1'], version: 77 });
    expect(d.lease.expiresAt.getTime()).toBe(now.getTime() + ttl * 1000);
  });

  it('takes over an expired lease from another owner', () => {
    const d = decideLease(
      lease({ owner: 'enc-b', expiresAt: new Date(now.getTime() - 1) }),
      req({ kids: ['k9'] }),
      now,
      ttl,
      77,
    );
    // An opened lease starts at the random first version, never at one a stale request may expect.
    expect(d.lease).toMatchObject({ owner: 'enc-a', kids: ['k9'], version: 77 });
    expect(d.expectedVersion).toBe(3);
  });

  it('rejects another owner while the lease is active, with Retry-After', () => {
    try {
      decideLease(lease(), req({ owner: 'enc-b' }), now, ttl, 77);
      throw new Error('expected a conflict');
    } catch (err) {
      expect(err).toBeInstanceOf(LeaseConflictError);
      expect((err as LeaseConflictError).headers['Retry-After']).toBe('300');
      expect((err as LeaseConflictError).message).toContain('"r1" is in use');
      expect((err as LeaseConflictError).message).toContain('keyplane lease release r1');
      expect((err as LeaseConflictError).message).not.toContain('this caller');
    }
  });

  it('tells the same owner it holds the lease and which KIDs repeat the request', () => {
    try {
      decideLease(lease(), req({ kids: ['k2'] }), now, ttl, 77);
      throw new Error('expected a conflict');
    } catch (err) {
      const e = err as LeaseConflictError;
      expect([e.status, e.code, e.headers['Retry-After']]).toEqual([409, 'lease_conflict', '300']);
      expect(e.message).toMatch(/this caller already holds the lease with KIDs k1; send the same KIDs to repeat/);
      expect(e.message).toContain('key rotation');
    }
  });

  it('rejects new KIDs from the same owner without rotation (a second process)', () => {
    expect(() => decideLease(lease(), req({ kids: ['k2'] }), now, ttl, 77)).toThrow(LeaseConflictError);
  });

  it('accepts a retry of the same KIDs and renews it', () => {
    const d = decideLease(lease(), req(), now, ttl, 77);
    expect(d.mustWrite).toBe(true);
    expect(d.lease.version).toBe(4);
  });

  it('skips the write when the lease was renewed moments ago', () => {
    const d = decideLease(lease({ expiresAt: new Date(now.getTime() + ttl * 1000 - 1000) }), req(), now, ttl, 77);
    expect(d.mustWrite).toBe(false);
  });

  it('accepts new KIDs for a new key period from a rotating owner', () => {
    const d = decideLease(lease({ rotating: true }), req({ kids: ['k2'], rotating: true }), now, ttl, 77);
    expect(d.lease.kids).toEqual(['k1', 'k2']);
  });

  it('does not let a rotating request join a non-rotating process', () => {
    expect(() => decideLease(lease(), req({ kids: ['k2'], rotating: true }), now, ttl, 77)).toThrow(LeaseConflictError);
  });

  it('bounds the remembered KIDs of a long-running process', () => {
    const kids = Array.from({ length: MAX_LEASE_KIDS }, (_, i) => `k${i}`);
    const d = decideLease(lease({ rotating: true, kids }), req({ kids: ['new'], rotating: true }), now, ttl, 77);
    expect(d.lease.kids).toHaveLength(MAX_LEASE_KIDS);
    expect(d.lease.kids.at(-1)).toBe('new');
  });
});

describe('lease versions', () => {
  it('counts a renewal up, and starts again at the first version past the largest a store holds', () => {
    const renewal = (version: number) =>
      decideLease(lease({ version, expiresAt: new Date(now.getTime() + 1000) }), req(), now, ttl, 77);
    expect(renewal(3).lease.version).toBe(4);
    expect(renewal(2 ** 31 - 1).lease.version).toBe(77);
    expect(renewal(2 ** 31 - 1).expectedVersion).toBe(2 ** 31 - 1);
  });

  it('opens a lease over an expired one (or a lease-free placeholder) at a version other than its own', () => {
    const over = (version: number) =>
      decideLease(lease({ version, owner: 'enc-b', expiresAt: new Date(0) }), req(), now, ttl, 77);
    expect(over(0).lease.version).toBe(77);
    expect(over(77).lease.version).toBe(78);
  });

  it('draws first versions that differ, within what every store holds', () => {
    const drawn = Array.from({ length: 64 }, () => firstLeaseVersion());
    expect(new Set(drawn).size).toBeGreaterThan(60);
    for (const v of drawn) expect(v >= 1 && v < 2 ** 31).toBe(true);
  });
});

describe('a full lease', () => {
  const full = Array.from({ length: MAX_LEASE_KIDS }, (_, i) => `k${i + 1}`);

  it('counts KIDs whose keys the resource has as known, so a retry of a bigger request passes', () => {
    const d = decideLease(
      lease({ kids: full }),
      req({ kids: ['k0', ...full], storedKids: new Set(['k0']) }),
      now,
      ttl,
      77,
    );
    expect(d.lease.kids).toEqual(full);
  });

  it('does not let another request of the owner pass with a KID of an earlier job', () => {
    expect(() =>
      decideLease(lease({ kids: full }), req({ kids: ['k0'], storedKids: new Set(['k0']) }), now, ttl, 77),
    ).toThrow(LeaseConflictError);
    const other = ['k0', ...full.slice(1), 'x'];
    expect(() =>
      decideLease(lease({ kids: full }), req({ kids: other, storedKids: new Set(['k0']) }), now, ttl, 77),
    ).toThrow(LeaseConflictError);
  });

  it('still refuses a KID without a key, and does not trust stored keys while it has room', () => {
    const stored = new Set(['k0']);
    expect(() => decideLease(lease({ kids: full }), req({ kids: ['new'], storedKids: stored }), now, ttl, 77)).toThrow(
      LeaseConflictError,
    );
    expect(() => decideLease(lease(), req({ kids: ['k0'], storedKids: stored }), now, ttl, 77)).toThrow(
      LeaseConflictError,
    );
  });
});
