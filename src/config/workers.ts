import os from 'node:os';
import { fail, optional, type Env } from './env';

/** Upper bound for `KEYPLANE_WORKERS`: far above any core count this server is meant for, far below a fork bomb. */
const MAX_WORKERS = 256;

/**
 * How many server processes `keyplane serve` runs on one port (`KEYPLANE_WORKERS`, `--workers`): a
 * number, or `auto` for one per core. Default 1: a single process, no cluster primary.
 */
export function loadWorkers(env: Env, cores: () => number = () => os.availableParallelism()): number {
  const name = 'KEYPLANE_WORKERS';
  const raw = optional(env, name);
  if (raw === undefined) return 1;
  if (raw === 'auto') return Math.max(1, Math.min(MAX_WORKERS, cores()));
  if (!/^[1-9][0-9]*$/.test(raw) || Number(raw) > MAX_WORKERS) {
    fail(name, `must be a whole number from 1 to ${MAX_WORKERS}, or auto (one per core); got "${raw}"`);
  }
  return Number(raw);
}
