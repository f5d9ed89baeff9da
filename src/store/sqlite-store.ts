import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { ServiceUnavailableError } from '../errors';
import { GroupCommitter } from './group-commit';
import type { ApiKeyRecord, IssueCommit, KeyStore, Lease, StaticKeyRecord, StoredKey } from './key-store';
import { KeyRaceError, LeaseRaceError, StaticKeyExistsError } from './key-store';
import type { PolicyStore } from './policy-store';
import { SqlitePolicyStore } from './sqlite-policy-store';
import { SqliteAuditTable } from './sqlite-audit';
import { auditFileOf, moveLegacyAudit, openAuditDatabase } from './sqlite-audit-file';
import { SqliteAuditPruner, type AuditPruneOptions, type AuditPruneRun } from './sqlite-audit-pruner';
import type { AuditPage, AuditQuery, AuditRecord } from '../audit/audit-record';
import { auditCutoff, withinRetention } from '../audit/audit-retention';

/** Where a store file keeps its audit trail (re-exported: tests and tools name the file). */
export { auditFileOf } from './sqlite-audit-file';

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
`;

interface KeyRow {
  kid: string;
  resource_id: string;
  sealed: Buffer;
  origin: string;
  created_at: number;
}
interface LeaseRow {
  resource_id: string;
  owner: string;
  kids: string;
  rotating: number;
  expires_at: number;
  version: number;
}
interface StaticRow {
  resource_id: string;
  kid: string;
  created_at: number;
}
interface ApiKeyRow {
  id: string;
  name: string;
  roles: string;
  secret_hash: Buffer;
  created_at: number;
  revoked_at: number | null;
}

const toKey = (r: KeyRow): StoredKey => ({
  kid: r.kid,
  resourceId: r.resource_id,
  sealed: r.sealed,
  origin: r.origin === 'static' ? 'static' : 'speke',
  createdAt: new Date(r.created_at),
});
const toLease = (r: LeaseRow): Lease => ({
  resourceId: r.resource_id,
  owner: r.owner,
  kids: JSON.parse(r.kids) as string[],
  rotating: r.rotating === 1,
  expiresAt: new Date(r.expires_at),
  version: r.version,
});
const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  roles: JSON.parse(r.roles) as string[],
  secretHash: r.secret_hash,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at === null ? undefined : new Date(r.revoked_at),
});

/** Maps SQLite's busy/IO/read-only failures to 503 so clients retry instead of seeing our bug. */
function unavailable(err: unknown): never {
  const code = (err as { code?: string }).code ?? '';
  if (/^SQLITE_(BUSY|LOCKED|IOERR|READONLY|FULL|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code)) {
    throw new ServiceUnavailableError(`Key store unavailable (${code})`, 2, err);
  }
  throw err;
}

/** A group commit that failed as a whole: none of its writes is kept, so every caller gets a 503 to retry. */
function batchUnavailable(err: unknown): ServiceUnavailableError {
  const code = (err as { code?: unknown }).code;
  const why = typeof code === 'string' ? code : String(err);
  return new ServiceUnavailableError(`Key store unavailable (${why})`, 2, err);
}

/** Settings of the SQLite store. */
export interface SqliteStoreOptions {
  /** Called after each group commit with the number of writes it carried (tests, metrics). */
  onCommit?: (writes: number) => void;
  /** How long a write waits for another process's write lock before failing with 503 (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Days audit records are kept: older ones are never read and are pruned in the background (see
   * SqliteAuditPruner). Absent: kept forever, no pruning.
   */
  auditRetentionDays?: number;
  /** The clock retention is judged by (tests inject one). */
  now?: () => Date;
  /** Pruner tuning and its per-run callback (logging, tests); see AuditPruneOptions. */
  auditPrune?: Omit<AuditPruneOptions, 'retentionDays' | 'now'>;
}

/**
 * The embedded store for `npm start`: one SQLite file in WAL mode with synchronous=FULL,
 * so a committed key survives a crash. Conditional writes make leases safe across processes
 * that share the file. Writes are group-committed (see GroupCommitter): those arriving in the same
 * event-loop turn share one transaction and one fsync, each in its own savepoint, and resolve only
 * once that transaction is durable.
 */
export class SqliteKeyStore implements KeyStore {
  readonly name = 'sqlite';
  /** Per-resource delivery policies, in their own table of the same file. */
  readonly policies: PolicyStore;
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly writes: GroupCommitter;
  /** The audit trail's own file and connection (the main one for `:memory:`), see `openAuditDatabase`. */
  private readonly auditDb: Database.Database;
  private readonly auditWrites: GroupCommitter;
  private readonly audit: SqliteAuditTable;
  private readonly auditRetentionDays: number | undefined;
  private readonly now: () => Date;
  private readonly pruner: SqliteAuditPruner | undefined;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const timeout = options.busyTimeoutMs ?? 5000;
    this.db = new Database(file, { timeout });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.policies = new SqlitePolicyStore(this.db);
    this.auditDb = file === ':memory:' ? this.db : openAuditDatabase(file, timeout);
    this.audit = new SqliteAuditTable(this.auditDb);
    if (this.auditDb !== this.db) moveLegacyAudit(this.db, auditFileOf(file));
    this.stmts = {
      getLease: this.db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE resource_id = ?'),
      getKey: this.db.prepare<[string], KeyRow>('SELECT * FROM keys WHERE kid = ?'),
      insertLease: this.db.prepare(
        'INSERT OR IGNORE INTO leases (resource_id, owner, kids, rotating, expires_at, version) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      updateLease: this.db.prepare(
        'UPDATE leases SET owner = ?, kids = ?, rotating = ?, expires_at = ?, version = ? WHERE resource_id = ? AND version = ?',
      ),
      insertKey: this.db.prepare(
        'INSERT OR IGNORE INTO keys (kid, resource_id, sealed, origin, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteLease: this.db.prepare('DELETE FROM leases WHERE resource_id = ?'),
      getStatic: this.db.prepare<[string], StaticRow>('SELECT * FROM static_keys WHERE resource_id = ?'),
      insertStatic: this.db.prepare(
        'INSERT OR IGNORE INTO static_keys (resource_id, kid, created_at) VALUES (?, ?, ?)',
      ),
      putApiKey: this.db.prepare(
        'INSERT INTO api_keys (id, name, roles, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      getApiKey: this.db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?'),
      listApiKeys: this.db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
      revokeApiKey: this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      // Reads the schema page: `SELECT 1` would succeed without touching the file (locked, unreadable, gone).
      ping: this.db.prepare('SELECT count(*) FROM sqlite_master'),
    };
    this.writes = new GroupCommitter(this.db, { batchError: batchUnavailable, onCommit: options.onCommit });
    this.auditWrites =
      this.auditDb === this.db
        ? this.writes
        : new GroupCommitter(this.auditDb, { batchError: batchUnavailable, savepoints: false });
    this.auditRetentionDays = options.auditRetentionDays;
    this.now = options.now ?? (() => new Date());
    this.pruner = this.startPruner(options);
  }

  private startPruner(options: SqliteStoreOptions): SqliteAuditPruner | undefined {
    if (this.auditRetentionDays === undefined) return undefined;
    const pruner = new SqliteAuditPruner(this.auditDb, this.audit, {
      ...options.auditPrune,
      retentionDays: this.auditRetentionDays,
      now: this.now,
    });
    pruner.start();
    return pruner;
  }

  /** Runs `work` in the next group commit; its own errors (races) pass through, SQLite failures become 503. */
  private write<T>(work: () => T): Promise<T> {
    return this.writes.submit(work).catch(unavailable);
  }

  async getLease(resourceId: string): Promise<Lease | undefined> {
    try {
      const row = this.stmts.getLease.get(resourceId);
      return row && toLease(row);
    } catch (err) {
      return unavailable(err);
    }
  }

  async getKeys(kids: string[]): Promise<Map<string, StoredKey>> {
    const found = new Map<string, StoredKey>();
    try {
      for (const kid of kids) {
        const row = this.stmts.getKey.get(kid);
        if (row) found.set(kid, toKey(row));
      }
    } catch (err) {
      unavailable(err);
    }
    return found;
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    return this.write(() => {
      this.writeLease(commit.lease, commit.expectedLeaseVersion);
      for (const key of commit.newKeys) this.insertKey(key);
    });
  }

  private insertKey(key: StoredKey): void {
    const res = this.stmts.insertKey.run(key.kid, key.resourceId, key.sealed, key.origin, key.createdAt.getTime());
    if (res.changes === 0) throw new KeyRaceError(key.kid);
  }

  private writeLease(lease: Lease, expected: number | undefined): void {
    const args = [
      lease.owner,
      JSON.stringify(lease.kids),
      lease.rotating ? 1 : 0,
      lease.expiresAt.getTime(),
      lease.version,
    ];
    const res =
      expected === undefined
        ? this.stmts.insertLease.run(lease.resourceId, ...args)
        : this.stmts.updateLease.run(...args, lease.resourceId, expected);
    if (res.changes === 0) {
      const current = this.stmts.getLease.get(lease.resourceId);
      throw new LeaseRaceError(lease.resourceId, current && toLease(current));
    }
  }

  async deleteLease(resourceId: string): Promise<boolean> {
    return this.write(() => this.stmts.deleteLease.run(resourceId).changes > 0);
  }

  async getStaticKey(resourceId: string): Promise<StaticKeyRecord | undefined> {
    try {
      const row = this.stmts.getStatic.get(resourceId);
      return row && { resourceId: row.resource_id, kid: row.kid, createdAt: new Date(row.created_at) };
    } catch (err) {
      return unavailable(err);
    }
  }

  async putStaticKey(record: StaticKeyRecord, key: StoredKey): Promise<void> {
    return this.write(() => {
      const res = this.stmts.insertStatic.run(record.resourceId, record.kid, record.createdAt.getTime());
      if (res.changes === 0) {
        const row = this.stmts.getStatic.get(record.resourceId) as StaticRow;
        throw new StaticKeyExistsError({
          resourceId: row.resource_id,
          kid: row.kid,
          createdAt: new Date(row.created_at),
        });
      }
      this.insertKey(key);
    });
  }

  async putApiKey(r: ApiKeyRecord): Promise<void> {
    const revokedAt = r.revokedAt?.getTime() ?? null;
    const roles = JSON.stringify(r.roles);
    await this.write(() =>
      this.stmts.putApiKey.run(r.id, r.name, roles, r.secretHash, r.createdAt.getTime(), revokedAt),
    );
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    try {
      const row = this.stmts.getApiKey.get(id);
      return row && toApiKey(row);
    } catch (err) {
      return unavailable(err);
    }
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    try {
      return this.stmts.listApiKeys.all().map(toApiKey);
    } catch (err) {
      return unavailable(err);
    }
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    return this.write(() => this.stmts.revokeApiKey.run(at.getTime(), id).changes > 0);
  }

  /**
   * Audit records are committed (group-committed on the audit connection) before the request that
   * wrote them answers, so they survive a crash of the process; see `openAuditDatabase`.
   */
  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    if (records.length > 0) await this.auditWrites.submit(() => this.audit.insert(records)).catch(unavailable);
  }

  /** Records past the retention are never returned, pruned yet or not. */
  async queryAudit(query: AuditQuery): Promise<AuditPage> {
    try {
      return this.audit.query(withinRetention(query, auditCutoff(this.auditRetentionDays, this.now())));
    } catch (err) {
      return unavailable(err);
    }
  }

  /**
   * Deletes audit records past the retention now, in one bounded run (what the background timer does
   * every few minutes); `undefined` when records are kept forever. Never throws: a failure is in `error`.
   */
  pruneExpiredAudit(): AuditPruneRun | undefined {
    return this.pruner?.runOnce();
  }

  async ping(): Promise<void> {
    try {
      this.stmts.ping.get();
    } catch (err) {
      unavailable(err);
    }
  }

  async close(): Promise<void> {
    this.pruner?.stop();
    this.writes.flush();
    this.auditWrites.flush();
    if (this.auditDb !== this.db) this.auditDb.close();
    this.db.close();
  }
}
