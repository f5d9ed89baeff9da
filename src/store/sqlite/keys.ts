import type Database from 'better-sqlite3';
import { KeyRaceError, type StoredKey } from '../records';
import type { KeyRepository } from '../repositories';
import { ISSUE_SQL } from './issue-write';

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
  origin: string;
  created_at: number;
}

const toKey = (r: KeyRow): StoredKey => ({
  kid: r.kid,
  resourceId: r.resource_id,
  sealed: r.sealed,
  origin: r.origin === 'static' ? 'static' : 'speke',
  createdAt: new Date(r.created_at),
});

/** The `keys` table: reads by KID, and the insert-if-absent that issuance and static keys write with. */
export class SqliteKeyTable implements KeyRepository {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], KeyRow>('SELECT * FROM keys WHERE kid = ?'),
      insert: db.prepare(ISSUE_SQL.keyInsert),
    };
  }

  async get(kids: string[]): Promise<Map<string, StoredKey>> {
    const found = new Map<string, StoredKey>();
    for (const kid of kids) {
      const row = this.stmts.get.get(kid);
      if (row) found.set(kid, toKey(row));
    }
    return found;
  }

  /** Inserts a key unless its KID exists (then KeyRaceError); call inside a group-committed write. */
  insert(key: StoredKey): void {
    const res = this.stmts.insert.run(key.kid, key.resourceId, key.sealed, key.origin, key.createdAt.getTime());
    if (res.changes === 0) throw new KeyRaceError(key.kid);
  }
}
