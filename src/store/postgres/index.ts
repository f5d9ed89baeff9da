import type { Backend } from '../backend';
import { mapBackendOutages } from '../outage';
import { withAuditRetention } from '../retention';
import { PostgresApiKeyRepository } from './api-keys';
import { PostgresAuditRepository } from './audit';
import { PostgresAuditPruner, type PostgresPruneRun } from './audit-pruner';
import { PostgresDatabase, type PostgresConnectionOptions } from './database';
import { postgresOutage } from './errors';
import { PostgresKeyTable } from './keys';
import { PostgresLeaseRepository } from './leases';
import { PostgresPolicyRepository } from './policies';
import { PostgresResourceTable, PostgresTenantRepository } from './resources';
import { PostgresRevocationRepository } from './revocations';
import { PostgresStaticKeyRepository } from './static-keys';
import { PostgresTransferRepository } from './transfer';

/** The schema versions and the migration runner (re-exported: tests and tools migrate explicitly). */
export { MIGRATIONS, migrate } from './migrations';
/** What one audit prune run did (re-exported for the backend's callers). */
export type { PostgresPruneRun } from './audit-pruner';
/** The connection settings (re-exported: compose and `migrate --to postgres` open the backend with them). */
export type { PostgresConnectionOptions } from './database';

/** Settings of the PostgreSQL backend: the connection and pool, and audit retention. */
export interface PostgresBackendOptions extends PostgresConnectionOptions {
  /** Days audit records are kept: older ones are never read and are deleted in the background. */
  auditRetentionDays?: number;
  /** The clock retention is judged by (tests inject one). */
  now?: () => Date;
  /** Called after each background prune run (logging, tests). */
  onAuditPrune?: (run: PostgresPruneRun) => void;
}

/** The PostgreSQL backend, with what only it has: migrating now and pruning the audit trail on demand. */
export interface PostgresBackend extends Backend {
  /** Runs the schema migrations now (they also run before the first query); resolves once current. */
  migrate(): Promise<void>;
  /** Deletes audit records past the retention now, one bounded run; `undefined` when kept forever. */
  pruneExpiredAudit(): Promise<PostgresPruneRun | undefined>;
}

/**
 * The shared-database backend for several Keyplane instances: one PostgreSQL database reached through a
 * bounded pool (see PostgresDatabase), the schema migrated before the first query under an advisory lock,
 * every multi-row write one transaction, races settled by conditional inserts and updates (see the
 * repositories). Every repository maps outages to 503 (see `postgresOutage`).
 */
export function openPostgresBackend(options: PostgresBackendOptions): PostgresBackend {
  if (!options.url) throw new Error('PostgreSQL store needs a connection string');
  const db = new PostgresDatabase(options);
  const now = options.now ?? (() => new Date());
  const keys = new PostgresKeyTable(db.query);
  const resources = new PostgresResourceTable(db.query);
  const audit = new PostgresAuditRepository(db.query);
  const retentionDays = options.auditRetentionDays;
  const pruner =
    retentionDays === undefined
      ? undefined
      : new PostgresAuditPruner(audit, { retentionDays, now, onPrune: options.onAuditPrune });
  pruner?.start();
  return mapBackendOutages(
    {
      name: 'postgres',
      keys,
      leases: new PostgresLeaseRepository(db, keys, resources),
      staticKeys: new PostgresStaticKeyRepository(db, keys, resources),
      resources,
      tenants: new PostgresTenantRepository(db.query),
      apiKeys: new PostgresApiKeyRepository(db.query),
      audit: withAuditRetention(audit, { retentionDays, now }),
      policies: new PostgresPolicyRepository(db.query),
      revocations: new PostgresRevocationRepository(db, now),
      transfer: new PostgresTransferRepository(db.query),
      ping: async () => {
        await db.query('SELECT 1 FROM schema_migrations LIMIT 1');
      },
      migrate: async () => {
        await db.ready();
      },
      pruneExpiredAudit: async () => pruner?.runOnce(),
      close: async () => {
        pruner?.stop();
        await db.close();
      },
    },
    postgresOutage,
  );
}
