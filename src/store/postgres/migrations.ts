import { Client } from 'pg';

/** One step of the schema: applied once, in version order, in its own transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The schema, version by version. Only ever append: an applied version is never edited (instances of
 * the previous release keep running against the new schema during a rolling upgrade, so steps are additive).
 * Times are epoch milliseconds (BIGINT) as in the SQLite store; keys are stored sealed (BYTEA); ids and
 * tenants sort bytewise (COLLATE "C"), as SQLite and DynamoDB order them, whatever the database's locale.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, leases, static keys, api keys, policies, resources, revocations, audit',
    sql: `
CREATE TABLE keys (
  kid TEXT PRIMARY KEY,
  resource_id TEXT NOT NULL,
  sealed BYTEA NOT NULL,
  origin TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX keys_resource ON keys (resource_id);
CREATE TABLE leases (
  resource_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  kids TEXT[] NOT NULL,
  rotating BOOLEAN NOT NULL,
  expires_at BIGINT NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE static_keys (
  resource_id TEXT PRIMARY KEY,
  kid TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  roles TEXT[] NOT NULL,
  secret_hash BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  tenant TEXT COLLATE "C" NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at, id);
CREATE TABLE resource_policies (
  resource_id TEXT PRIMARY KEY,
  rules JSONB NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE resources (
  resource_id TEXT PRIMARY KEY,
  tenant TEXT COLLATE "C" NOT NULL,
  kind TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX resources_tenant ON resources (tenant);
CREATE TABLE revocations (
  jti TEXT NOT NULL,
  tenant TEXT NOT NULL,
  revoked_by TEXT NOT NULL,
  revoked_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (jti, tenant)
);
CREATE INDEX revocations_expiry ON revocations (expires_at);
CREATE TABLE audit (
  id TEXT COLLATE "C" PRIMARY KEY,
  time BIGINT NOT NULL,
  resource_id TEXT NOT NULL,
  action TEXT NOT NULL,
  route TEXT NOT NULL,
  kid TEXT,
  principal TEXT,
  outcome TEXT NOT NULL,
  status INTEGER NOT NULL,
  reason TEXT,
  client_ip TEXT,
  tenant TEXT
);
CREATE INDEX audit_resource_time ON audit (resource_id, time, id);
CREATE INDEX audit_time ON audit (time, id);
CREATE INDEX audit_tenant_time ON audit (tenant, time, id);
`,
  },
];

/** The advisory lock every Keyplane instance takes to migrate: one at a time, whatever their number. */
export const MIGRATION_LOCK = 0x4b45_5950_4c41_4e45n; // "KEYPLANE"

/**
 * Brings the database to the latest schema version and returns the versions it applied (none when it
 * was current), on its own connection to `url` (not the pool's: no statement timeout, so neither the
 * wait for another instance's migration nor a long step on a big table is cut short). Runs under a
 * session-level `pg_advisory_lock`, so instances starting at once migrate one after the other and the later
 * ones find nothing to do; each version is applied together with its `schema_migrations` row in one
 * transaction, so a crash leaves it wholly applied or not at all (the lock dies with the session).
 * Versions newer than this release knows are left alone.
 */
export async function migrate(
  url: string,
  migrations: readonly Migration[] = MIGRATIONS,
  connectTimeoutMs = 5000,
): Promise<number[]> {
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'keyplane-migrate',
    keepAlive: true,
  });
  client.on('error', () => undefined); // a dead connection fails the pending query; the next call retries
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations ' +
        '(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
    );
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    // Ending the session releases the advisory lock, whether or not the unlock could be sent.
    await client.end().catch(() => undefined);
  }
}
