/**
 * The export kind of backup file, shared by the stores that have no file to snapshot (DynamoDB,
 * PostgreSQL): rows streamed page by page into one table of the same single-file SQLite container as
 * SQLite backups, then the manifest, fsync and rename (a killed export never leaves a file that looks good).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import type { Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { LEGACY_SEALER } from '../keys/rewrap';
import { partialName, sealBackupFile } from '../store/sqlite/backup-file';
import { VERSION } from '../version';
import type { BackupManifest } from './backup';

/** JSON with bytes as `{ "$b64": ... }` and dates as `{ "$date": ISO }`, so both come back as they were. */
export function backupJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    // `raw`, not `v`: a Buffer's toJSON has already turned `v` into { type, data }.
    return raw instanceof Uint8Array ? { $b64: Buffer.from(raw).toString('base64') } : v;
  });
}

/** Parses `backupJson` output back into Buffers and Dates. */
export function parseBackupJson(json: string): unknown {
  return JSON.parse(json, (_k, v: unknown) => {
    const tagged = v as { $b64?: unknown; $date?: unknown } | null;
    if (typeof tagged?.$b64 === 'string') return Buffer.from(tagged.$b64, 'base64');
    return typeof tagged?.$date === 'string' ? new Date(tagged.$date) : v;
  });
}

/** Counts stored keys per sealing key, as the manifest reports them. */
export class SealerTally {
  readonly sealedBy: Record<string, number> = {};
  keys = 0;

  constructor(private readonly cipher: EnvelopeCipher) {}

  add(sealed: Buffer): void {
    const by = this.cipher.sealedBy?.(sealed) ?? LEGACY_SEALER;
    this.sealedBy[by] = (this.sealedBy[by] ?? 0) + 1;
    this.keys++;
  }

  /** The manifest of an export of `store` with these counts. */
  async manifest(config: Config, store: BackupManifest['store']): Promise<BackupManifest> {
    return {
      format: 'keyplane-backup',
      version: 1,
      createdAt: new Date().toISOString(),
      keyplaneVersion: VERSION,
      store,
      cipher: this.cipher.name,
      sealingKey: config.kmsKeyId ?? (await this.cipher.sealingKeyId?.()) ?? this.cipher.name,
      sealedBy: this.sealedBy,
      keys: this.keys,
    };
  }
}

/** The table of an export: its name and `CREATE TABLE` column list; rows are inserted in that order. */
export interface ExportTable {
  name: string;
  columns: string;
  /** How many columns a row has. */
  width: number;
}

/**
 * Writes an export backup to `out`: creates a 0600 file under a temporary name, inserts each page of
 * rows in one transaction, then writes the manifest (built once every page is in) and renames it.
 */
export async function writeExportBackup(
  out: string,
  table: ExportTable,
  pages: AsyncIterable<unknown[][]>,
  manifest: () => Promise<BackupManifest>,
): Promise<BackupManifest> {
  const snapshot = partialName(out);
  fs.closeSync(fs.openSync(snapshot, 'wx', 0o600));
  const db = new Database(snapshot);
  try {
    db.exec(`CREATE TABLE ${table.name} (${table.columns})`);
    const marks = Array.from({ length: table.width }, () => '?').join(', ');
    const insert = db.prepare(`INSERT INTO ${table.name} VALUES (${marks})`);
    for await (const rows of pages) {
      db.transaction(() => {
        for (const row of rows) insert.run(...row);
      })();
    }
    db.close();
    const written = await manifest();
    sealBackupFile(snapshot, out, written);
    return written;
  } finally {
    if (db.open) db.close();
    fs.rmSync(snapshot, { force: true });
  }
}

/** The rows of an export table, in `order`. */
export function readExportRows<T>(file: string, table: string, order: string): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as T[];
  } finally {
    db.close();
  }
}
