import { StaticKeyExistsError, type StaticKeyRecord, type StoredKey } from '../records';
import type { StaticKeyRepository } from '../repositories';
import { dateOf, type PostgresDatabase } from './database';
import type { PostgresKeyTable } from './keys';
import type { PostgresResourceTable } from './resources';

interface StaticRow {
  resource_id: string;
  kid: string;
  created_at: string;
}

const toStatic = (row: StaticRow): StaticKeyRecord => ({
  resourceId: row.resource_id,
  kid: row.kid,
  createdAt: dateOf(row.created_at),
});

const SELECT = 'SELECT resource_id, kid, created_at FROM static_keys WHERE resource_id = $1';

/**
 * The `static_keys` table; a registration, its key and the resource's owner (kind `static`) are written in
 * one transaction (keys before the owner, as issuance does, so the two never wait on each other in a cycle).
 */
export class PostgresStaticKeyRepository implements StaticKeyRepository {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly keys: PostgresKeyTable,
    private readonly resources: PostgresResourceTable,
  ) {}

  async get(resourceId: string): Promise<StaticKeyRecord | undefined> {
    const { rows } = await this.db.query<StaticRow>(SELECT, [resourceId]);
    return rows[0] && toStatic(rows[0]);
  }

  async put(record: StaticKeyRecord, key: StoredKey, tenant: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const res = await tx.query(
        'INSERT INTO static_keys (resource_id, kid, created_at) VALUES ($1, $2, $3) ON CONFLICT (resource_id) DO NOTHING',
        [record.resourceId, record.kid, record.createdAt.getTime()],
      );
      if (res.rowCount === 0) {
        const { rows } = await tx.query<StaticRow>(SELECT, [record.resourceId]);
        throw new StaticKeyExistsError(toStatic(rows[0] as StaticRow));
      }
      await this.keys.insert(tx, [key]);
      await this.resources.claim(
        tx,
        record.resourceId,
        { tenant, kind: 'static', expected: 'absent' },
        record.createdAt,
      );
    });
  }
}
