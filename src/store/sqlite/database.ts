import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { auditFileOf, moveLegacyAudit, openAuditDatabase } from './audit-file';
import { AUDIT_SCHEMA } from './audit-table';
import { BackgroundCheckpointer } from './checkpointer';
import { batchUnavailable } from './errors';
import { GroupCommitter } from './group-commit';
import { raceError } from './issue-write';
import { SqliteWriterThread } from './writer-thread';
import { enableWal } from './wal-mode';
import { makePrivateDatabaseFile } from './private-file';
import { migrateAuditToTenants, migrateMainToTenants } from './tenants-schema';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  kid TEXT PRIMARY KEY,
  resource_id TEXT NOT NULL,
  sealed BLOB NOT NULL,
  origin TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_resource ON keys (resource_id);
CREATE TABLE IF NOT EXISTS leases (
  resource_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  kids TEXT NOT NULL,
  rotating INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS static_keys (
  resource_id TEXT PRIMARY KEY,
  kid TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  roles TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS resource_policies (
  resource_id TEXT PRIMARY KEY,
  rules TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

/** Settings of the SQLite files. */
export interface SqliteDatabaseOptions {
  /** Called after each group commit with the number of writes it carried (tests, metrics). */
  onCommit?: (writes: number) => void;
  /** How long a write waits for another process's write lock before failing with 503 (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Checkpoint the WAL from a worker thread (see BackgroundCheckpointer), as the server does; off by
   * default so the many short-lived databases of tests and CLI commands start no thread.
   */
  backgroundCheckpoint?: boolean;
  /**
   * Commit issuance and audit writes on a worker thread (see SqliteWriterThread), as the server does; off
   * by default, like `backgroundCheckpoint`.
   */
  writerThread?: boolean;
  /**
   * With `writerThread`: false keeps audit appends (synchronous=NORMAL, no fsync) on the event loop, where
   * they cost less than the hop when every core runs a worker; issuance, which waits for an fsync, stays
   * on the thread. Default true.
   */
  auditOnWriterThread?: boolean;
}

/** The writers' own checkpoint threshold (pages) while a worker checkpoints: a backstop, not the rule. */
const BACKSTOP_AUTOCHECKPOINT = 4000;
/** SQLite's own default checkpoint threshold (pages). */
const DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * The SQLite files of a backend and their write paths: the main file (keys, leases, static keys, API
 * keys, policies) in WAL mode with synchronous=FULL, so a committed key survives a crash, and the audit
 * trail's own file (the main connection for `:memory:`; see `openAuditDatabase`). Writes are
 * group-committed (see GroupCommitter): those arriving in the same event-loop turn share one transaction
 * and one fsync, each in its own savepoint, and resolve only once that transaction is durable.
 */
export class SqliteDatabase {
  /** The main connection. */
  readonly db: Database.Database;
  /** The audit trail's connection (the main one for `:memory:`). */
  readonly auditDb: Database.Database;
  /** Group commit of the main file. */
  readonly writes: GroupCommitter;
  /** Group commit of the audit file (no savepoints: appends cannot conflict). */
  readonly auditWrites: GroupCommitter;
  private readonly pingStmt: Database.Statement;
  private readonly checkpointer?: BackgroundCheckpointer;
  /** The writer thread, when `writerThread` is set (not for `:memory:`). */
  readonly writer?: SqliteWriterThread;

  constructor(file: string, options: SqliteDatabaseOptions = {}) {
    if (file !== ':memory:') {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      makePrivateDatabaseFile(file);
      makePrivateDatabaseFile(auditFileOf(file));
    }
    const timeout = options.busyTimeoutMs ?? 5000;
    this.db = new Database(file, { timeout });
    enableWal(this.db, timeout);
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    // The group commit's savepoints write a statement journal; in memory it costs no file writes.
    this.db.pragma('temp_store = MEMORY');
    this.db.exec(SCHEMA);
    migrateMainToTenants(this.db);
    this.auditDb = file === ':memory:' ? this.db : openAuditDatabase(file, timeout);
    this.auditDb.exec(AUDIT_SCHEMA);
    if (this.auditDb !== this.db) moveLegacyAudit(this.db, auditFileOf(file));
    migrateAuditToTenants(this.auditDb);
    // Reads the schema page: `SELECT 1` would succeed without touching the file (locked, unreadable, gone).
    this.pingStmt = this.db.prepare('SELECT count(*) FROM sqlite_master');
    this.writes = new GroupCommitter(this.db, { batchError: batchUnavailable, onCommit: options.onCommit });
    this.auditWrites =
      this.auditDb === this.db
        ? this.writes
        : new GroupCommitter(this.auditDb, { batchError: batchUnavailable, savepoints: false });
    if (options.backgroundCheckpoint && file !== ':memory:') {
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT}`);
      this.auditDb.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT}`);
      this.checkpointer = new BackgroundCheckpointer([file, auditFileOf(file)]);
    }
    if (options.writerThread && file !== ':memory:') {
      this.writer = new SqliteWriterThread({
        main: file,
        audit: auditFileOf(file),
        busyTimeoutMs: timeout,
        autocheckpoint: options.backgroundCheckpoint ? BACKSTOP_AUTOCHECKPOINT : DEFAULT_AUTOCHECKPOINT,
        batchError: batchUnavailable,
        raceError,
      });
    }
  }

  /** Throws when the main file cannot be read. */
  ping(): void {
    this.pingStmt.get();
  }

  /** Commits what is queued and closes both connections. */
  close(): void {
    this.writer?.close();
    this.writes.flush();
    this.auditWrites.flush();
    this.checkpointer?.close();
    if (this.auditDb !== this.db) this.auditDb.close();
    this.db.close();
  }
}
