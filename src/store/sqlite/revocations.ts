import type Database from 'better-sqlite3';
import type { GroupCommitter } from './group-commit';
import type { RevocationRecord, RevocationRepository } from '../revocations';

/** The `revocations` table: one row per (jti, revoker's tenant); `''` stands for "no tenant". */
const REVOCATIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS revocations (
  jti TEXT NOT NULL,
  tenant TEXT NOT NULL,
  revoked_by TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (jti, tenant)
);
CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);
`;

interface RevocationRow {
  jti: string;
  tenant: string;
  revoked_by: string;
  revoked_at: number;
  expires_at: number;
}

const toRecord = (row: RevocationRow): RevocationRecord => ({
  jti: row.jti,
  ...(row.tenant === '' ? {} : { tenant: row.tenant }),
  revokedBy: row.revoked_by,
  revokedAt: new Date(row.revoked_at),
  expiresAt: new Date(row.expires_at),
});

/**
 * Revocations in the main SQLite file (group-committed, so durable before the 204). Every instance
 * sharing the file sees a revocation on its next read. Expired rows are deleted with each new one.
 */
export class SqliteRevocationRepository implements RevocationRepository {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommitter,
    private readonly now: () => Date,
  ) {
    db.exec(REVOCATIONS_SCHEMA);
    this.stmts = {
      get: db.prepare<[string, number], RevocationRow>('SELECT * FROM revocations WHERE jti = ? AND expires_at > ?'),
      insert: db.prepare(
        'INSERT OR IGNORE INTO revocations (jti, tenant, revoked_by, revoked_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      prune: db.prepare('DELETE FROM revocations WHERE expires_at <= ?'),
    };
  }

  async put(record: RevocationRecord): Promise<void> {
    return this.writes.submit(() => {
      this.stmts.prune.run(this.now().getTime());
      this.stmts.insert.run(
        record.jti,
        record.tenant ?? '',
        record.revokedBy,
        record.revokedAt.getTime(),
        record.expiresAt.getTime(),
      );
    });
  }

  async get(jti: string): Promise<RevocationRecord[]> {
    return this.stmts.get.all(jti, this.now().getTime()).map(toRecord);
  }
}
