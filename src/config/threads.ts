import os from 'node:os';
import { fail, optional, type Env } from './env';

/**
 * Helper threads in each server process, used as far as the worker processes leave cores free. A SPEKE
 * thread and the SQLite writer thread take work off the event loop onto another core; when every core
 * already runs a worker (`--workers auto` or `N` ≥ cores) there is no free core, and handing small
 * requests between threads only adds copies and context switches (measured in docs/benchmarks.md,
 * "Threads or workers"). What would stall the loop still goes to a thread: large SPEKE documents, and
 * every commit that waits for an fsync.
 */
export interface ThreadsConfig {
  /** `KEYPLANE_SPEKE_THREADS`: worker threads that read and answer SPEKE documents (0: the event loop). */
  spekeThreads: number;
  /** Whether small SPEKE documents go to the threads too (large ones always do): when a core is free. */
  spekeSmallOnThreads: boolean;
  /**
   * What the SQLite store commits on its writer thread: always the writes that wait for an fsync (keys,
   * leases), so no fsync ever holds up the event loop; the audit appends too when a core is free.
   */
  sqliteWriterThread: 'keys and audit' | 'keys';
}

/**
 * Reads `KEYPLANE_SPEKE_THREADS`: `auto` (default: one thread per process) or 0–16. Large documents always
 * go to a thread; small ones, and audit appends to the writer thread, only when the machine has more cores
 * than workers.
 */
export function loadThreadsConfig(
  env: Env,
  workers: number,
  cores: () => number = () => os.availableParallelism(),
): ThreadsConfig {
  const freeCore = cores() > workers;
  const name = 'KEYPLANE_SPEKE_THREADS';
  const raw = optional(env, name) ?? 'auto';
  if (raw !== 'auto' && (!/^\d+$/.test(raw) || Number(raw) > 16)) {
    fail(name, `must be auto or an integer from 0 to 16, got "${raw}"`);
  }
  return {
    spekeThreads: raw === 'auto' ? 1 : Number(raw),
    spekeSmallOnThreads: freeCore,
    sqliteWriterThread: freeCore ? 'keys and audit' : 'keys',
  };
}
