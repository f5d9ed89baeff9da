import { KeyRaceError, type StoredKey } from '../records';
import type { KeyRepository } from '../repositories';
import type { Query, Tx } from './database';
import { dateOf } from './database';
import { ReadBatcher } from './batch';

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
  origin: string;
  created_at: string;
}

const toKey = (r: KeyRow): StoredKey => ({
  kid: r.kid,
  resourceId: r.resource_id,
  sealed: r.sealed,
  origin: r.origin === 'static' ? 'static' : 'speke',
  createdAt: dateOf(r.created_at),
});

/** The `keys` table: reads by KID (batched, see ReadBatcher), and the insert-if-absent issuance writes with. */
export class PostgresKeyTable implements KeyRepository {
  private readonly byKid: ReadBatcher<StoredKey>;

  constructor(query: Query) {
    this.byKid = new ReadBatcher(async (kids) => {
      const { rows } = await query<KeyRow>(
        'SELECT kid, resource_id, sealed, origin, created_at FROM keys WHERE kid = ANY($1::text[])',
        [kids],
      );
      return new Map(rows.map((row) => [row.kid, toKey(row)]));
    });
  }

  async get(kids: string[]): Promise<Map<string, StoredKey>> {
    const found = new Map<string, StoredKey>();
    const keys = await Promise.all(kids.map((kid) => this.byKid.get(kid)));
    keys.forEach((key, i) => key && found.set(kids[i] as string, key));
    return found;
  }

  /**
   * Inserts keys unless their KID exists (then KeyRaceError, and the caller's transaction rolls back), all
   * in one statement (one round trip for the 8 keys of a SPEKE v2 request). Rows go in KID order, so two
   * transactions inserting overlapping keys wait on each other instead of deadlocking.
   */
  async insert(tx: Tx, keys: readonly StoredKey[]): Promise<void> {
    if (keys.length === 0) return;
    const { rows } = await tx.query<{ kid: string }>(
      'INSERT INTO keys (kid, resource_id, sealed, origin, created_at) ' +
        'SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::bigint[]) AS k ORDER BY 1 ' +
        'ON CONFLICT (kid) DO NOTHING RETURNING kid',
      [
        keys.map((k) => k.kid),
        keys.map((k) => k.resourceId),
        keys.map((k) => k.sealed),
        keys.map((k) => k.origin),
        keys.map((k) => k.createdAt.getTime()),
      ],
    );
    const inserted = new Set(rows.map((r) => r.kid));
    const raced = keys.find((k) => !inserted.has(k.kid));
    if (raced) throw new KeyRaceError(raced.kid);
  }
}
