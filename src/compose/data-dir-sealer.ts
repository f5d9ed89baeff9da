import path from 'node:path';
import type { StoredSealer } from '../keys/local-cipher';

/**
 * What the data dir's SQLite store holds, asked before a master key is made for it: a missing key beside
 * stored keys is an error, never a new key. Required lazily, like the store, so the Lambda bundle never
 * loads the native addon.
 */
export function dataDirSealer(dataDir: string): StoredSealer {
  return () => {
    const { sqliteStoredSealer } =
      require('../store/sqlite/sealed-keys') as typeof import('../store/sqlite/sealed-keys');
    return sqliteStoredSealer(path.join(dataDir, 'keyplane.db'));
  };
}
