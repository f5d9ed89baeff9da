import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { migrate } from './migrations';

/** How the backend connects: a standard connection string and the pool's bounds. */
export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/database?sslmode=...`; libpq's PG* variables fill what it leaves out. */
  url: string;
  /** Connections the pool opens at most (default 10). */
  poolSize?: number;
  /** The server cancels a statement after this long (default 5000 ms); the client gives up 1 s later. */
  statementTimeoutMs?: number;
  /** How long a request waits for a connection (new or from the pool) before a 503 (default 5000 ms). */
  connectTimeoutMs?: number;
  /** An idle connection died (server restart, network): logged by the caller; the pool replaces it. */
  onIdleError?: (err: Error) => void;
}

/** The queries a transaction runs: one connection, inside BEGIN … COMMIT. */
export type Tx = Pick<PoolClient, 'query'>;

/** One parameterised statement, on the pool or inside a transaction. */
export type Query = <R extends QueryResultRow>(text: string, values?: unknown[]) => Promise<QueryResult<R>>;

/**
 * The pool and the two ways repositories use it: single statements (autocommitted) and transactions
 * (all or nothing, on one connection). Before the first of either, the schema is migrated (see `migrate`);
 * a failed migration (database down at start) is retried by the next call, so an instance started before
 * its database comes up recovers by itself. The pool replaces dead connections; an idle connection that
 * dies is reported to `onIdleError`, never thrown (node-postgres would otherwise crash the process).
 */
export class PostgresDatabase {
  readonly pool: Pool;
  private migrated: Promise<unknown> | undefined;

  private readonly url: string;
  private readonly connectTimeoutMs: number;

  constructor(options: PostgresConnectionOptions) {
    this.url = options.url;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const statementTimeout = options.statementTimeoutMs ?? 5000;
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 1000,
      connectionTimeoutMillis: this.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'keyplane',
    });
    this.pool.on('error', (err) => options.onIdleError?.(err));
  }

  /** Migrates once (again after a failure); every query waits for it. */
  ready(): Promise<unknown> {
    this.migrated ??= migrate(this.url, undefined, this.connectTimeoutMs).catch((err: unknown) => {
      this.migrated = undefined;
      throw err;
    });
    return this.migrated;
  }

  /** One autocommitted statement. */
  readonly query: Query = async <R extends QueryResultRow>(text: string, values?: unknown[]) => {
    await this.ready();
    return this.pool.query<R>(text, values);
  };

  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws (a race error included), so nothing is ever half-written. A connection that failed is
   * destroyed instead of going back to the pool.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    await this.ready();
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken ??= rollbackError));
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** Closes every connection; later calls fail (and map to 503). */
  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Text as PostgreSQL can store it: TEXT cannot hold U+0000 (SQLite can), so each is written as U+FFFD.
 * Applied to the free text Keyplane stores (audit fields, API key names): an attacker's NUL in a path
 * must not turn the write that audits their request (and others batched with it) into an error.
 */
export const storableText = (value: string): string => value.replace(/\0/g, '\uFFFD');

/** Epoch milliseconds as node-postgres returns BIGINT (a string), as a Date. */
export const dateOf = (value: string | number): Date => new Date(Number(value));
