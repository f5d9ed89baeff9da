import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ServiceUnavailableError } from '../../src/errors';
import { auditFileOf, openSqliteBackend } from '../../src/store/sqlite';
import { deliveryRecord } from '../helpers/audit-records';
import { describeBackendContract } from './store-contract';

describeBackendContract('SQLite (file, WAL)', async (options) => {
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

// The server's configuration: issuance and audit writes committed on the writer thread.
describeBackendContract('SQLite (file, WAL, writer thread)', async (options) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sqlite-thread-'));
  const store = openSqliteBackend(path.join(dir, 'keyplane.db'), { ...options, writerThread: true });
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite backend audit file', () => {
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

describe('SQLite backend outages', () => {
  it('reports a write lock held elsewhere as ServiceUnavailableError from policies and API keys alike', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sqlite-busy-'));
    const file = path.join(dir, 'keyplane.db');
    const store = openSqliteBackend(file, { busyTimeoutMs: 50 });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const writes = [
        () => store.policies.put({ resourceId: 'r1', denyIps: ['192.0.2.1'], updatedAt: new Date() }),
        () => store.policies.delete('r1'),
        () => store.apiKeys.revoke('k1', new Date()),
      ];
      for (const write of writes) {
        const err = await write().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServiceUnavailableError);
        expect((err as Error).message).toMatch(/^Key store unavailable \(SQLITE_BUSY/);
        expect((err as ServiceUnavailableError).headers['Retry-After']).toBe('2');
      }
      other.exec('ROLLBACK');
      await expect(store.policies.delete('r1')).resolves.toBe(false);
    } finally {
      other.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
