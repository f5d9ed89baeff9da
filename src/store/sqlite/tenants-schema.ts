import type Database from 'better-sqlite3';

/** Resource ownership: one row per resource ID that has keys, and the tenant that owns it. */
const RESOURCES_SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  resource_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_tenant ON resources (tenant);
`;

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  return columns.some((c) => c.name === column);
}

/**
 * Brings a main file from before tenants to the tenant schema, once, in one transaction (nothing lost):
 * the `resources` table, filled with every resource ID that has keys, a static key or a lease, all owned
 * by `default` (kind `static` where a static key exists); `api_keys.tenant`, `default` for existing keys
 * except admin keys, which become `*` (they administered everything before, and still do). The column is
 * the marker: it is added in the same transaction as the backfill, and the check is repeated inside the
 * (immediate) transaction so two processes opening the file at once migrate it once.
 */
export function migrateMainToTenants(db: Database.Database): void {
  db.exec(RESOURCES_SCHEMA);
  if (hasColumn(db, 'api_keys', 'tenant')) return;
  db.transaction(() => {
    if (hasColumn(db, 'api_keys', 'tenant')) return;
    db.exec(`
      ALTER TABLE api_keys ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
      UPDATE api_keys SET tenant = '*' WHERE EXISTS (SELECT 1 FROM json_each(api_keys.roles) WHERE value = 'admin');
      CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
      INSERT OR IGNORE INTO resources (resource_id, tenant, kind, created_at)
        SELECT resource_id, 'default', 'static', created_at FROM static_keys;
      INSERT OR IGNORE INTO resources (resource_id, tenant, kind, created_at)
        SELECT resource_id, 'default', CASE WHEN MAX(origin = 'static') = 1 THEN 'static' ELSE 'speke' END,
               MIN(created_at)
        FROM keys GROUP BY resource_id;
      INSERT OR IGNORE INTO resources (resource_id, tenant, kind, created_at)
        SELECT resource_id, 'default', 'speke', expires_at FROM leases;
    `);
  }).immediate();
}

/**
 * Gives an audit table from before tenants its `tenant` column (NULL for records from before: read as
 * `default`, no rewrite of the trail) and the (tenant, time) index tenant-scoped reads use; idempotent,
 * safe for two processes at once.
 */
export function migrateAuditToTenants(db: Database.Database): void {
  if (!hasColumn(db, 'audit', 'tenant')) {
    db.transaction(() => {
      if (!hasColumn(db, 'audit', 'tenant')) db.exec('ALTER TABLE audit ADD COLUMN tenant TEXT');
    }).immediate();
  }
  db.exec('CREATE INDEX IF NOT EXISTS audit_tenant_time ON audit (tenant, time, id)');
}
