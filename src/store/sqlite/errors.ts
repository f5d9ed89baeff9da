import { ServiceUnavailableError } from '../../errors';

/** SQLite result codes that mean "the file cannot serve now" (busy, locked, I/O, full, unreadable). */
const OUTAGE_CODE = /^SQLITE_(BUSY|LOCKED|IOERR|READONLY|FULL|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

/**
 * Maps SQLite's busy/IO/read-only failures to 503 so clients retry instead of seeing our bug; the one
 * place that knows SQLite's error codes (an OutageClassifier). Anything else (a constraint, a bug): undefined.
 */
export function sqliteOutage(err: unknown): ServiceUnavailableError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !OUTAGE_CODE.test(code)) return undefined;
  return new ServiceUnavailableError(`Key store unavailable (${code})`, 2, err);
}

/** SQLITE_BUSY and its extended codes: another connection holds the lock (a wait may succeed). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** A group commit that failed as a whole: none of its writes is kept, so every caller gets a 503 to retry. */
export function batchUnavailable(err: unknown): ServiceUnavailableError {
  const code = (err as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? code : String(err);
  return new ServiceUnavailableError(`Key store unavailable (${why})`, 2, err);
}
