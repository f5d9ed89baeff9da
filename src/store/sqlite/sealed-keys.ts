import fs from 'node:fs';
import Database from 'better-sqlite3';
import { enableWal } from './wal-mode';
import type { SealedKeyChange, SealedKeyPage, SealedKeyStore } from '../../keys/rewrap';

/** The local cipher's sealed format that names its master key (version byte 3, then 8 bytes of fingerprint). */
const LOCAL_FORMAT_WITH_FINGERPRINT = 3;

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
  origin: string;
  created_at: number;
}

/**
 * The keys table of a SQLite store file through its own connection (WAL, synchronous=FULL, busy
 * timeout), for re-wrap and counting by a command while a server may be running on the same file:
 * pages in KID order, and each page's compare-and-swaps in one short transaction.
 */
export class SqliteSealedKeyStore implements SealedKeyStore {
  private readonly db: Database.Database;

  constructor(file: string, busyTimeoutMs = 5000) {
    this.db = new Database(file, { timeout: busyTimeoutMs, fileMustExist: true });
    enableWal(this.db, busyTimeoutMs);
    this.db.pragma('synchronous = FULL');
  }

  async page(cursor: string | undefined, limit: number): Promise<SealedKeyPage> {
    const rows = this.db
      .prepare('SELECT kid, resource_id, sealed, origin, created_at FROM keys WHERE kid > ? ORDER BY kid LIMIT ?')
      .all(cursor ?? '', limit) as KeyRow[];
    const keys = rows.map((r) => ({
      kid: r.kid,
      resourceId: r.resource_id,
      sealed: r.sealed,
      origin: r.origin === 'static' ? ('static' as const) : ('speke' as const),
      createdAt: new Date(r.created_at),
    }));
    return { keys, next: rows.length === limit ? rows[rows.length - 1]?.kid : undefined };
  }

  async replaceSealed(changes: SealedKeyChange[]): Promise<number> {
    const update = this.db.prepare('UPDATE keys SET sealed = ? WHERE kid = ? AND sealed = ?');
    return this.db
      .transaction(() => changes.reduce((n, c) => n + update.run(c.next, c.kid, c.expected).changes, 0))
      .immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/**
 * What a SQLite store file holds for a master key check: undefined when the file or its keys table is
 * absent or empty, else the fingerprint of the local master key its first sealed key needs ('' for a
 * value of another format: a KMS or pre-rotation key).
 */
export function sqliteStoredSealer(file: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").get();
    if (!hasTable) return undefined;
    const row = db.prepare('SELECT sealed FROM keys LIMIT 1').get() as { sealed: Buffer } | undefined;
    if (!row) return undefined;
    return row.sealed[0] === LOCAL_FORMAT_WITH_FINGERPRINT ? row.sealed.subarray(1, 9).toString('hex') : '';
  } finally {
    db.close();
  }
}
