import type { RevocationRecord, RevocationRepository } from '../revocations';
import { dateOf, type PostgresDatabase } from './database';

interface RevocationRow {
  jti: string;
  tenant: string;
  revoked_by: string;
  revoked_at: string;
  expires_at: string;
}

const toRecord = (row: RevocationRow): RevocationRecord => ({
  jti: row.jti,
  ...(row.tenant === '' ? {} : { tenant: row.tenant }),
  revokedBy: row.revoked_by,
  revokedAt: dateOf(row.revoked_at),
  expiresAt: dateOf(row.expires_at),
});

/**
 * The `revocations` table: one row per (jti, revoker's tenant), `''` standing for "no tenant"; committed
 * before the 204, seen by every instance on its next read. Expired rows are deleted with each new one,
 * in the same transaction.
 */
export class PostgresRevocationRepository implements RevocationRepository {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly now: () => Date,
  ) {}

  async put(record: RevocationRecord): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM revocations WHERE expires_at <= $1', [this.now().getTime()]);
      await tx.query(
        'INSERT INTO revocations (jti, tenant, revoked_by, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5) ' +
          'ON CONFLICT (jti, tenant) DO NOTHING',
        [record.jti, record.tenant ?? '', record.revokedBy, record.revokedAt.getTime(), record.expiresAt.getTime()],
      );
    });
  }

  async get(jti: string): Promise<RevocationRecord[]> {
    const { rows } = await this.db.query<RevocationRow>(
      'SELECT jti, tenant, revoked_by, revoked_at, expires_at FROM revocations WHERE jti = $1 AND expires_at > $2',
      [jti, this.now().getTime()],
    );
    return rows.map(toRecord);
  }
}
