import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { auditFileOf, openSqliteBackend } from '../../src/store/sqlite';
import { deliveryRecord } from '../helpers/audit-records';
import { describeBackendContract } from './store-contract';

describeBackendContract('SqliteKeyStore (file, WAL)', async (options) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sqlite-'));
  const store = openSqliteBackend(path.join(dir, 'keyplane.db'), options);
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteKeyStore audit file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sqlite-audit-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the audit trail in <name>-audit.db (synchronous=NORMAL) and keys in <name>.db (synchronous=FULL)', async () => {
    const file = path.join(dir, 'keyplane.db');
    expect(auditFileOf(file)).toBe(path.join(dir, 'keyplane-audit.db'));
    expect(auditFileOf('/x/store.sqlite')).toBe('/x/store.sqlite-audit');
    const store = openSqliteBackend(file);
    await store.audit.append([deliveryRecord('movie')]);
    await store.close();
    const main = new Database(file, { readonly: true });
    const audit = new Database(auditFileOf(file), { readonly: true });
    try {
      expect(main.prepare("SELECT name FROM sqlite_master WHERE name = 'audit'").get()).toBeUndefined();
      expect(audit.prepare('SELECT resource_id FROM audit').all()).toEqual([{ resource_id: 'movie' }]);
      expect(audit.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      main.close();
      audit.close();
    }
  });

  it('moves audit rows that an earlier version kept in the main file, once, without duplicates', async () => {
    const file = path.join(dir, 'keyplane.db');
    const legacy = new Database(file);
    legacy.exec(
      'CREATE TABLE audit (id TEXT PRIMARY KEY, time INTEGER NOT NULL, resource_id TEXT NOT NULL, action TEXT NOT NULL, ' +
        'route TEXT NOT NULL, kid TEXT, principal TEXT, outcome TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT, client_ip TEXT)',
    );
    legacy
      .prepare(
        "INSERT INTO audit VALUES ('a1', 1000, 'old-movie', 'deliver', 'GET /keys/{resourceId}/{kid}', NULL, NULL, 'allowed', 200, NULL, NULL)",
      )
      .run();
    legacy.close();
    for (let open = 0; open < 2; open++) {
      const store = openSqliteBackend(file);
      const page = await store.audit.query({ resourceId: 'old-movie', limit: 10 });
      expect(page.records.map((r) => r.id)).toEqual(['a1']);
      await store.close();
    }
    const main = new Database(file, { readonly: true });
    expect(main.prepare("SELECT name FROM sqlite_master WHERE name = 'audit'").get()).toBeUndefined();
    main.close();
  });
});
