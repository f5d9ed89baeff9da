import { KeyService } from '../../src/keys/key-service';
import { localCipherFor } from '../../src/keys/local-cipher';
import type { EnvelopeCipher } from '../../src/keys/envelope-cipher';
import { StaticKeyService } from '../../src/keys/static-key-service';
import type { Backend } from '../../src/store/backend';
import { openSqliteBackend } from '../../src/store/sqlite';
import path from 'node:path';

/** One stored key: where delivery finds it. */
export interface KeyRef {
  resourceId: string;
  kid: string;
}

/** Creates `count` static keys (resources `<prefix>-<i>`) through the services, `parallel` at a time. */
export async function populateStore(
  store: Backend,
  cipher: EnvelopeCipher,
  count: number,
  prefix = 'res',
  parallel = 250,
): Promise<KeyRef[]> {
  const service = new StaticKeyService(store.staticKeys, new KeyService(store, cipher, 600), store.resources);
  const refs: KeyRef[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => `${prefix}-${i + j}`);
    const made = await Promise.all(batch.map((resourceId) => service.create({ resourceId }, 'default')));
    refs.push(...made.map((m) => ({ resourceId: m.resourceId, kid: m.kid })));
  }
  return refs;
}

/** Creates `count` static keys in a SQLite data dir (its master key created on the way), no server needed. */
export async function populateDataDir(dataDir: string, count: number, prefix = 'res'): Promise<KeyRef[]> {
  const store = openSqliteBackend(path.join(dataDir, 'keyplane.db'));
  try {
    return await populateStore(store, localCipherFor(dataDir), count, prefix);
  } finally {
    await store.close();
  }
}
