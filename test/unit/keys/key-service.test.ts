import crypto from 'node:crypto';
import { KeyService } from '../../../src/keys/key-service';
import { LocalEnvelopeCipher } from '../../../src/keys/local-cipher';
import { openSqliteBackend, type SqliteBackend } from '../../../src/store/sqlite';

const kid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('KeyService', () => {
  let store: SqliteBackend;
  let keys: KeyService;
  beforeEach(() => {
    store = openSqliteBackend(':memory:');
    keys = new KeyService(store, new LocalEnvelopeCipher(crypto.randomBytes(32)), 600);
  });
  afterEach(() => store.close());

  const req = (resourceId: string, kids: number[], owner = 'enc-1') => ({
    resourceId,
    owner,
    tenant: 'default',
    keys: kids.map((n) => ({ kid: kid(n) })),
    rotating: false,
  });

  it('commits nothing when building the response fails', async () => {
    await expect(
      keys.issueWith(req('r1', [1, 2]), () => {
        throw new Error('response could not be built');
      }),
    ).rejects.toThrow('response could not be built');
    expect(await store.keys.get([kid(1), kid(2)])).toEqual(new Map());
    expect(await store.leases.get('r1')).toBeUndefined();
  });

  it('returns the build result only after the keys are stored, and the same keys again', async () => {
    const first = await keys.issueWith(req('r2', [3]), async (issued) => {
      expect(await store.keys.get([kid(3)])).toEqual(new Map());
      return issued;
    });
    expect((await store.keys.get([kid(3)])).get(kid(3))?.resourceId).toBe('r2');
    expect(await keys.issue(req('r2', [3]))).toEqual(first);
    expect(await keys.get('r2', kid(3))).toEqual(first[0]);
  });

  it('keeps the encoder-proposed IV and generates 16 random bytes otherwise', async () => {
    const iv = crypto.randomBytes(16);
    const [a, b] = await keys.issue({
      resourceId: 'r3',
      owner: 'o',
      tenant: 'default',
      rotating: false,
      keys: [{ kid: kid(4), iv }, { kid: kid(5) }],
    });
    expect(a?.iv).toEqual(iv);
    expect(b?.iv).toHaveLength(16);
    expect(a?.key).not.toEqual(b?.key);
  });

  it('retries a lost race and then applies the lease rule to the winner', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => keys.issue(req('r4', [10 + i], `o${i}`))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason.status).toBe(409);
    }
  });

  describe('resource ownership', () => {
    const as = (tenant: string, resourceId: string, kids: number[], owner = `enc-${tenant}`) => ({
      ...req(resourceId, kids, owner),
      tenant,
    });

    it('claims a new resource for the caller, or for default when the caller is *', async () => {
      await keys.issue(as('acme', 'own-1', [40]));
      await keys.issue(as('*', 'star-1', [41]));
      expect(await keys.ownerOf('own-1')).toMatchObject({ tenant: 'acme', kind: 'speke' });
      expect(await keys.ownerOf('star-1')).toMatchObject({ tenant: 'default', kind: 'speke' });
    });

    it("refuses another tenant's resource (403 resource_taken) but lets * act on it", async () => {
      const [first] = await keys.issue(as('acme', 'own-2', [42]));
      await expect(keys.issue(as('bravo', 'own-2', [42]))).rejects.toMatchObject({
        status: 403,
        code: 'resource_taken',
      });
      await expect(keys.issue(as('default', 'own-2', [43]))).rejects.toMatchObject({ code: 'resource_taken' });
      const [again] = await keys.issue(as('*', 'own-2', [42], 'enc-acme'));
      expect(again?.key).toEqual(first?.key);
      expect(await keys.ownerOf('own-2')).toMatchObject({ tenant: 'acme' });
      expect((await store.keys.get([kid(43)])).size).toBe(0);
    });
  });
});
