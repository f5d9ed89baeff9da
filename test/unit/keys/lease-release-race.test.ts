import crypto from 'node:crypto';
import { LeaseConflictError } from '../../../src/errors';
import { KeyService } from '../../../src/keys/key-service';
import { LocalEnvelopeCipher } from '../../../src/keys/local-cipher';
import { openSqliteBackend } from '../../../src/store/sqlite';

const kid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const req = (owner: string, kids: number[], leaseFree = false) => ({
  resourceId: 'live',
  owner,
  tenant: 'default',
  rotating: true,
  keys: kids.map((n) => ({ kid: kid(n) })),
  ...(leaseFree ? { leaseFree: true } : {}),
});

describe('a lease released while its holder has a request in flight', () => {
  it.each([
    ['opened where none was stored', false],
    ['opened over a lease-free placeholder', true],
  ])("fails the holder's late write instead of taking the lease back (%s)", async (_, leaseFreeFirst) => {
    const store = openSqliteBackend(':memory:');
    const keys = new KeyService(store, new LocalEnvelopeCipher(crypto.randomBytes(32)), 600);
    try {
      if (leaseFreeFirst) await keys.issue(req('packager', [90], true));
      await keys.issue(req('enc-a', [1]));
      let building!: () => void;
      const inBuild = new Promise<void>((r) => (building = r));
      let resume!: () => void;
      const paused = new Promise<void>((r) => (resume = r));
      // enc-a rotates: it has read the lease once its build step runs, and is slow before its write.
      const late = keys.issueWith(req('enc-a', [2]), async (k) => {
        building();
        await paused;
        return k;
      });
      await inBuild;
      expect(await keys.releaseLease('live')).toBe(true);
      if (leaseFreeFirst) await keys.issue(req('packager', [91], true));
      await keys.issue(req('enc-b', [3]));
      resume();
      await expect(late).rejects.toBeInstanceOf(LeaseConflictError);
      expect((await store.leases.get('live'))?.owner).toBe('enc-b');
      await expect(keys.issue(req('enc-b', [4]))).resolves.toHaveLength(1);
      expect(await store.keys.get([kid(2)])).toHaveProperty('size', 0);
    } finally {
      await store.close();
    }
  });
});
