import crypto from 'node:crypto';
import { UnprocessableError } from '../../../src/errors';
import { KeyArchiveService } from '../../../src/keys/key-archive-service';
import { KeyService } from '../../../src/keys/key-service';
import { LocalEnvelopeCipher } from '../../../src/keys/local-cipher';
import { openSqliteBackend } from '../../../src/store/sqlite';

const caller = { principal: 'admin', tenant: '*', route: 'POST /exports' };

describe('exporting a resource with more keys than one export holds', () => {
  it('is refused whole with a 422 naming the limit, never cut short', async () => {
    const store = openSqliteBackend(':memory:');
    const cipher = new LocalEnvelopeCipher(crypto.randomBytes(32));
    try {
      const keys = new KeyService(store, cipher, 600);
      const kids = Array.from({ length: 4 }, () => crypto.randomUUID());
      await keys.issue({
        resourceId: 'live',
        owner: 'enc',
        tenant: 'default',
        rotating: false,
        keys: kids.map((kid) => ({ kid })),
      });
      const over = new KeyArchiveService(store, cipher, undefined, 3);
      const err = await over.exportResource('live', caller, undefined).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnprocessableError);
      expect((err as Error).message).toBe(
        'Resource "live" has more than 3 keys, too many for one export; use keyplane backup to copy them all',
      );
      const at = new KeyArchiveService(store, cipher, undefined, 4);
      expect((await at.exportResource('live', caller, undefined)).keys.map((k) => k.kid).sort()).toEqual(kids.sort());
    } finally {
      await store.close();
    }
  });
});
