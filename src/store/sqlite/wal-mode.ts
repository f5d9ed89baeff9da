import type Database from 'better-sqlite3';
import { isBusy } from './errors';

/** Pause between attempts while another process holds the lock the switch needs. */
const RETRY_MS = 20;

/**
 * Puts a connection's file in WAL mode. When two processes open a new file at once (`--workers`, or two
 * servers on one data dir), the switch can answer SQLITE_BUSY at once, without SQLite's busy handler (it
 * would otherwise risk a deadlock), and the second process failed to start. It is retried until the
 * connection's busy timeout has passed; then the error is the caller's.
 */
export function enableWal(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, RETRY_MS);
    }
  }
}
