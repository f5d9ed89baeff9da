import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory } from '../../util/secret-file';
import { auditFileOf } from './audit-file';
import { AUDIT_SCHEMA } from './audit-table';
import { migrateAuditToTenants } from './tenants-schema';

/*
 * A Keyplane SQLite backup is one SQLite file: a page-for-page online backup of the store file (keys
 * still sealed), plus two tables of its own: `keyplane_backup` (one row: the manifest as JSON, which
 * says what master key / KMS key the keys need) and `keyplane_backup_audit` (the audit trail, copied in
 * one read transaction of the audit file), and `keyplane_backup_files` (secret files of the data dir,
 * such as the playback-token keys, sealed by the caller). Any sqlite3 shell can read it; nothing in it
 * is plaintext key material.
 */
const MANIFEST_TABLE = 'keyplane_backup';
const FILES_TABLE = 'keyplane_backup_files';
const AUDIT_TABLE = 'keyplane_backup_audit';
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/** A temporary name beside `file` that no reader takes for a finished file. */
export function partialName(file: string, what = 'partial'): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${what}-${crypto.randomBytes(6).toString('hex')}`);
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Copies the store file `source` (a server may be writing it) into `target`, a new file, with SQLite's
 * online backup API in one step (a single read transaction: consistent, never blocking writers in WAL
 * mode), then the audit trail into the same file. `target` is created 0600 first.
 */
export async function snapshotSqliteStore(source: string, target: string): Promise<void> {
  fs.closeSync(fs.openSync(target, 'wx', 0o600));
  const src = new Database(source, { fileMustExist: true, timeout: 5000 });
  try {
    await src.backup(target, { progress: () => 0x7fffffff });
  } finally {
    src.close();
  }
  const out = new Database(target, { timeout: 5000 });
  try {
    out.pragma('journal_mode = DELETE');
    const audit = auditFileOf(source);
    if (fs.existsSync(audit)) {
      out.prepare('ATTACH DATABASE ? AS source_audit').run(audit);
      out.exec(`CREATE TABLE ${AUDIT_TABLE} AS SELECT * FROM source_audit.audit`);
      out.exec('DETACH DATABASE source_audit');
    }
  } finally {
    out.close();
  }
}

/** A data-dir file carried in a backup, sealed by the store's cipher. */
export interface SealedFile {
  name: string;
  sealed: Buffer;
}

/** Writes the manifest into a snapshot, fsyncs it and renames it to `out`: a backup exists whole or not at all. */
export function sealBackupFile(snapshot: string, out: string, manifest: object, files: SealedFile[] = []): void {
  const db = new Database(snapshot, { fileMustExist: true });
  try {
    // A rollback-journal file, not WAL: a backup on read-only media must open without creating -shm.
    db.pragma('journal_mode = DELETE');
    db.exec(`CREATE TABLE ${MANIFEST_TABLE} (manifest TEXT NOT NULL)`);
    db.prepare(`INSERT INTO ${MANIFEST_TABLE} (manifest) VALUES (?)`).run(JSON.stringify(manifest));
    db.exec(`CREATE TABLE ${FILES_TABLE} (name TEXT PRIMARY KEY, sealed BLOB NOT NULL)`);
    const insert = db.prepare(`INSERT INTO ${FILES_TABLE} (name, sealed) VALUES (?, ?)`);
    for (const f of files) insert.run(f.name, f.sealed);
  } finally {
    db.close();
  }
  fs.chmodSync(snapshot, 0o600);
  fsyncFile(snapshot);
  fs.renameSync(snapshot, out);
  syncDirectory(path.dirname(out));
}

/** Reads the manifest of a backup file; undefined when the file is not a Keyplane SQLite backup. */
export function readBackupManifest(file: string): unknown {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return undefined;
  }
  try {
    const row = db.prepare(`SELECT manifest FROM ${MANIFEST_TABLE}`).get() as { manifest: string } | undefined;
    return row ? (JSON.parse(row.manifest) as unknown) : undefined;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** The sealed data-dir files a backup carries (none in backups without the table). */
export function readBackupFiles(file: string): SealedFile[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = '${FILES_TABLE}'`).get();
    return has ? (db.prepare(`SELECT name, sealed FROM ${FILES_TABLE} ORDER BY name`).all() as SealedFile[]) : [];
  } finally {
    db.close();
  }
}

/** Whether a data dir already holds a store file. */
export function storeExists(file: string): boolean {
  return fs.existsSync(file) && fs.statSync(file).size > 0;
}

/**
 * Whether another process has the store (or its audit file) open: a running server holds its connection
 * for as long as it runs, so an exclusive lock cannot be had. Restoring under it would leave the server
 * writing to a file that was replaced, and its keys lost.
 */
export function storeInUse(file: string): boolean {
  for (const f of [file, auditFileOf(file)]) {
    if (!fs.existsSync(f)) continue;
    const db = new Database(f, { timeout: 200, fileMustExist: true });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_BUSY') return true;
      // A damaged store (the usual reason to restore) holds no lock anyone could have.
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') continue;
      throw err;
    } finally {
      db.close();
    }
  }
  return false;
}

/**
 * Turns a backup file into the store files `file` and its audit file: both are built under temporary
 * names in the data dir, synced, then renamed into place (audit first, the store file last), after the
 * old files' WAL side files are removed so they cannot be replayed onto the restored database.
 */
export function restoreSqliteStore(backup: string, file: string): { auditRecords: number } {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mainTmp = partialName(file, 'restoring');
  const auditTmp = partialName(auditFileOf(file), 'restoring');
  let auditRecords = 0;
  try {
    fs.copyFileSync(backup, mainTmp, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(mainTmp, 0o600);
    fs.closeSync(fs.openSync(auditTmp, 'wx', 0o600));
    const audit = new Database(auditTmp);
    try {
      audit.exec(AUDIT_SCHEMA);
      migrateAuditToTenants(audit);
      audit.prepare('ATTACH DATABASE ? AS backup').run(mainTmp);
      const hasAudit = audit.prepare(`SELECT 1 FROM backup.sqlite_master WHERE name = '${AUDIT_TABLE}'`).get();
      if (hasAudit) {
        const columns = (audit.pragma(`backup.table_info(${AUDIT_TABLE})`) as Array<{ name: string }>)
          .map((c) => `"${c.name.replace(/"/g, '""')}"`)
          .join(', ');
        auditRecords = audit
          .prepare(`INSERT INTO audit (${columns}) SELECT ${columns} FROM backup.${AUDIT_TABLE}`)
          .run().changes;
        audit.exec(`DROP TABLE backup.${AUDIT_TABLE}`);
      }
      audit.exec(`DROP TABLE IF EXISTS backup.${MANIFEST_TABLE}`);
      audit.exec(`DROP TABLE IF EXISTS backup.${FILES_TABLE}`);
      audit.exec('DETACH DATABASE backup');
    } finally {
      audit.close();
    }
    fsyncFile(mainTmp);
    fsyncFile(auditTmp);
    for (const suffix of SIDE_FILES) {
      fs.rmSync(file + suffix, { force: true });
      fs.rmSync(auditFileOf(file) + suffix, { force: true });
    }
    fs.renameSync(auditTmp, auditFileOf(file));
    fs.renameSync(mainTmp, file);
    syncDirectory(dir);
    return { auditRecords };
  } finally {
    fs.rmSync(mainTmp, { force: true });
    fs.rmSync(auditTmp, { force: true });
  }
}
