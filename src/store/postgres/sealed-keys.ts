import { Pool } from 'pg';
import type { SealedKeyChange, SealedKeyPage, SealedKeyStore } from '../../keys/rewrap';

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
  origin: string;
  created_at: string;
}

/**
 * The `keys` table of a PostgreSQL store through its own small pool, for re-wrap and counting by a command
 * while servers keep running on the same database: pages in KID order, each page's compare-and-swaps
 * (`UPDATE … WHERE sealed = expected`) in one statement, so a key a server wrote meanwhile is left alone.
 */
export class PostgresSealedKeyStore implements SealedKeyStore {
  private readonly pool: Pool;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: 2, application_name: 'keyplane-command' });
    this.pool.on('error', () => undefined);
  }

  async page(cursor: string | undefined, limit: number): Promise<SealedKeyPage> {
    const { rows } = await this.pool.query<KeyRow>(
      'SELECT kid, resource_id, sealed, origin, created_at FROM keys WHERE kid > $1 ORDER BY kid LIMIT $2',
      [cursor ?? '', limit],
    );
    const keys = rows.map((r) => ({
      kid: r.kid,
      resourceId: r.resource_id,
      sealed: r.sealed,
      origin: r.origin === 'static' ? ('static' as const) : ('speke' as const),
      createdAt: new Date(Number(r.created_at)),
    }));
    return { keys, next: rows.length === limit ? rows[rows.length - 1]?.kid : undefined };
  }

  async replaceSealed(changes: SealedKeyChange[]): Promise<number> {
    if (changes.length === 0) return 0;
    // One statement for the page (one round trip, atomic); each row changes only while it holds `expected`.
    const res = await this.pool.query(
      'UPDATE keys AS k SET sealed = c.next FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS c(kid, expected, next) ' +
        'WHERE k.kid = c.kid AND k.sealed = c.expected',
      [changes.map((c) => c.kid), changes.map((c) => c.expected), changes.map((c) => c.next)],
    );
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
