import type { Backend } from '../backend';
import { mapBackendOutages } from '../outage';
import { withAuditRetention } from '../retention';
import { SqliteApiKeyRepository } from './api-keys';
import { SqliteAuditRepository } from './audit';
import { SqliteAuditPruner, type AuditPruneOptions, type AuditPruneRun } from './audit-pruner';
import { SqliteAuditTable } from './audit-table';
import { SqliteDatabase, type SqliteDatabaseOptions } from './database';
import { sqliteOutage } from './errors';
import { SqliteKeyTable } from './keys';
import { SqliteLeaseRepository } from './leases';
import { SqlitePolicyRepository } from './policies';
import { SqliteResourceTable, SqliteTenantRepository } from './resources';
import { SqliteStaticKeyRepository } from './static-keys';
import { SqliteRevocationRepository } from './revocations';
import { SqliteTransferRepository } from './transfer';

/** Where a store file keeps its audit trail (re-exported: tests and tools name the file). */
export { auditFileOf } from './audit-file';
/** What one prune run did, and the pruner's settings (re-exported for the backend's callers). */
export type { AuditPruneOptions, AuditPruneRun } from './audit-pruner';

/** Settings of the SQLite backend: those of its files (group commit, busy timeout) and of audit retention. */
export interface SqliteBackendOptions extends SqliteDatabaseOptions {
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

/** The SQLite backend, with what only it has: pruning the audit trail on demand. */
export interface SqliteBackend extends Backend {
  /**
   * Deletes audit records past the retention now, in one bounded run (what the background timer does
   * every few minutes); `undefined` when records are kept forever. Never throws: a failure is in `error`.
   */
  pruneExpiredAudit(): AuditPruneRun | undefined;
}

function startPruner(
  database: SqliteDatabase,
  table: SqliteAuditTable,
  options: SqliteBackendOptions,
  now: () => Date,
): SqliteAuditPruner | undefined {
  if (options.auditRetentionDays === undefined) return undefined;
  const pruner = new SqliteAuditPruner(database.auditDb, table, {
    ...options.auditPrune,
    retentionDays: options.auditRetentionDays,
    now,
  });
  pruner.start();
  return pruner;
}

/**
 * The embedded backend for `npm start`: one SQLite file (see SqliteDatabase) plus the audit trail's own
 * file; `file` may be `:memory:` (tests). Every repository maps SQLite outages to 503 (see `sqliteOutage`).
 */
export function openSqliteBackend(file: string, options: SqliteBackendOptions = {}): SqliteBackend {
  const database = new SqliteDatabase(file, options);
  const { db, writes } = database;
  const now = options.now ?? (() => new Date());
  const keys = new SqliteKeyTable(db);
  const resources = new SqliteResourceTable(db);
  const auditTable = new SqliteAuditTable(database.auditDb);
  const auditWriter = options.auditOnWriterThread === false ? undefined : database.writer;
  const audit = new SqliteAuditRepository(auditTable, database.auditWrites, auditWriter);
  const pruner = startPruner(database, auditTable, options, now);
  return mapBackendOutages(
    {
      name: 'sqlite',
      keys,
      leases: new SqliteLeaseRepository(db, writes, database.writer),
      staticKeys: new SqliteStaticKeyRepository(db, writes, keys, resources),
      resources,
      tenants: new SqliteTenantRepository(db),
      apiKeys: new SqliteApiKeyRepository(db, writes),
      audit: withAuditRetention(audit, { retentionDays: options.auditRetentionDays, now }),
      policies: new SqlitePolicyRepository(db),
      revocations: new SqliteRevocationRepository(db, writes, now),
      transfer: new SqliteTransferRepository(db, database.auditDb, writes, database.auditWrites),
      ping: async () => database.ping(),
      pruneExpiredAudit: () => pruner?.runOnce(),
      close: async () => {
        pruner?.stop();
        database.close();
      },
    },
    sqliteOutage,
  );
}
