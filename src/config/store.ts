import path from 'node:path';
import { boundedInteger, fail, oneOf, optional, type Env } from './env';

/** The PostgreSQL store's connection (`KEYPLANE_DATABASE_*`). */
export interface DatabaseConfig {
  /** Standard connection string, password and TLS options (`sslmode`, ...) included; never printed whole. */
  url: string;
  /** Connections each instance opens at most. */
  poolSize: number;
  /** The server cancels a statement after this long; the request gets 503. */
  statementTimeoutMs: number;
}

/** Which key store backs Keyplane and where it lives (`KEYPLANE_STORE`, `_TABLE`, `_DATA_DIR`, `_DATABASE_*`). */
export interface StoreConfig {
  store: 'sqlite' | 'dynamodb' | 'postgres';
  table?: string;
  /** SQLite database, master key and token keys; resolved to an absolute path. */
  dataDir: string;
  /** Set when `store` is `postgres`. */
  database?: DatabaseConfig;
}

/** The connection string, checked for its scheme and host without ever echoing it (it may hold a password). */
function databaseUrl(env: Env): string {
  const name = 'KEYPLANE_DATABASE_URL';
  const raw = optional(env, name);
  if (raw === undefined)
    return fail(name, 'is required when KEYPLANE_STORE=postgres (postgres://user:password@host:5432/db)');
  let parsedUrl: URL | undefined;
  try {
    parsedUrl = new URL(raw);
  } catch {
    fail(name, 'must be a connection string such as postgres://user:password@host:5432/keyplane (value not shown)');
  }
  if (!['postgres:', 'postgresql:'].includes(parsedUrl.protocol)) {
    fail(name, `must start with postgres:// or postgresql://, got "${parsedUrl.protocol}//…"`);
  }
  return raw;
}

function loadDatabaseConfig(env: Env): DatabaseConfig {
  return {
    url: databaseUrl(env),
    poolSize: boundedInteger(env, 'KEYPLANE_DATABASE_POOL_SIZE', 10, 1, 500),
    statementTimeoutMs: boundedInteger(env, 'KEYPLANE_DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
  };
}

/** Reads the store variables; a DynamoDB store needs its table, a PostgreSQL store its connection string. */
export function loadStoreConfig(env: Env): StoreConfig {
  const store = oneOf(env, 'KEYPLANE_STORE', ['sqlite', 'dynamodb', 'postgres'] as const, 'sqlite');
  const table = optional(env, 'KEYPLANE_TABLE');
  if (store === 'dynamodb' && table === undefined) fail('KEYPLANE_TABLE', 'is required when KEYPLANE_STORE=dynamodb');
  const dataDir = path.resolve(optional(env, 'KEYPLANE_DATA_DIR') ?? './data');
  return store === 'postgres'
    ? { store, table, dataDir, database: loadDatabaseConfig(env) }
    : { store, table, dataDir };
}

/** The database as start-up logs show it: user, host, port and database name, never the password. */
export function describeDatabase(database: DatabaseConfig | undefined): string {
  if (database === undefined) return 'postgres (not configured)';
  const url = new URL(database.url);
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  const where = `${user}${url.host || '(PGHOST)'}${url.pathname || ''}`;
  return `postgres (${where}, pool ${database.poolSize}, statement timeout ${database.statementTimeoutMs} ms)`;
}
