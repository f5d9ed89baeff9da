import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteKeyStore } from '../../src/store/sqlite-store';
import { describeKeyStoreContract } from './store-contract';

describeKeyStoreContract('SqliteKeyStore (file, WAL)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sqlite-'));
  const store = new SqliteKeyStore(path.join(dir, 'keyplane.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
