import type Database from 'better-sqlite3';
import type { GroupCommitter } from './group-commit';
import type { SqliteKeyTable } from './keys';
import type { SqliteResourceTable } from './resources';
import { StaticKeyExistsError, type StaticKeyRecord, type StoredKey } from '../records';
import type { StaticKeyRepository } from '../repositories';

interface StaticRow {
  resource_id: string;
  kid: string;
  created_at: number;
}

const toStatic = (row: StaticRow): StaticKeyRecord => ({
  resourceId: row.resource_id,
  kid: row.kid,
  createdAt: new Date(row.created_at),
});

/**
 * The `static_keys` table; a registration, its key and the resource's owner (kind `static`) are inserted in
 * one group-committed write.
 */
export class SqliteStaticKeyRepository implements StaticKeyRepository {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommitter,
    private readonly keys: SqliteKeyTable,
    private readonly resources: SqliteResourceTable,
  ) {
    this.stmts = {
      get: db.prepare<[string], StaticRow>('SELECT * FROM static_keys WHERE resource_id = ?'),
      insert: db.prepare('INSERT OR IGNORE INTO static_keys (resource_id, kid, created_at) VALUES (?, ?, ?)'),
    };
  }

  async get(resourceId: string): Promise<StaticKeyRecord | undefined> {
    const row = this.stmts.get.get(resourceId);
    return row && toStatic(row);
  }

  async put(record: StaticKeyRecord, key: StoredKey, tenant: string): Promise<void> {
    return this.writes.submit(() => {
      const res = this.stmts.insert.run(record.resourceId, record.kid, record.createdAt.getTime());
      if (res.changes === 0)
        throw new StaticKeyExistsError(toStatic(this.stmts.get.get(record.resourceId) as StaticRow));
      this.resources.claim(record.resourceId, { tenant, kind: 'static', expected: 'absent' }, record.createdAt);
      this.keys.insert(key);
    });
  }
}
