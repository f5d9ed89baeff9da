import { ServiceUnavailableError } from '../../errors';

/**
 * SQLSTATE classes that mean "the database cannot serve now": 08 connection exception, 53 insufficient
 * resources (disk full, out of memory, too many connections), 57P01-57P05 shutdown / crash recovery /
 * cannot connect now / idle timeouts, 58 system error (I/O), 28 authentication and 3D000 missing database
 * (a misconfigured or half-provisioned server: retrying may succeed once it is fixed).
 */
const OUTAGE_SQLSTATE = /^(08|53|57P0|58|28|3D000$)/;
/** Transient conflicts and timeouts a retry a moment later clears (serialization, deadlock, lock, timeout). */
const RETRY_SOON_SQLSTATE = new Set(['40001', '40P01', '55P03', '57014']);
/** Socket errors of an unreachable, restarting or vanished server (TCP or unix socket). */
const NETWORK_CODE = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ENOENT)$/;
/** What node-postgres throws, without a code, when a connection dies or the pool cannot hand one out. */
const DRIVER_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end)/;

/**
 * The PostgreSQL OutageClassifier: an unreachable, restarting, overloaded or misconfigured server
 * becomes ServiceUnavailableError (Retry-After 2 s; 1 s for conflicts and timeouts a retry clears). The
 * message carries the SQLSTATE or socket code only, never the server's text (it may name the user).
 * Anything else (a constraint we did not expect, a bug): undefined, so it propagates as the bug it is.
 */
export function postgresOutage(err: unknown): ServiceUnavailableError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (RETRY_SOON_SQLSTATE.has(code)) return new ServiceUnavailableError(`Key store busy (${code})`, 1, err);
    if (OUTAGE_SQLSTATE.test(code) || NETWORK_CODE.test(code)) {
      return new ServiceUnavailableError(`Key store unavailable (${code})`, 2, err);
    }
  }
  const message = err instanceof Error ? err.message : '';
  if (DRIVER_MESSAGE.test(message)) return new ServiceUnavailableError('Key store unavailable (connection)', 2, err);
  return undefined;
}
