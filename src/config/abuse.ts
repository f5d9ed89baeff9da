import { fail, integer, optional, type Env } from './env';

/**
 * Abuse limits (in memory, per instance): how many unauthenticated or failed-auth requests one client
 * IP may make per minute (`KEYPLANE_RATE_LIMIT_FAILED_AUTH`, default 120, `0`/`off` disables), how many
 * requests one credential may make per minute (`KEYPLANE_RATE_LIMIT_PER_CREDENTIAL`, off by default),
 * and how many clients each limit tracks (`KEYPLANE_RATE_LIMIT_MAX_CLIENTS`, default 100,000; the least
 * recently seen is forgotten first, so rotating addresses cannot exhaust memory).
 */
export interface AbuseLimitsConfig {
  /** Failed or unauthenticated requests per minute per client IP; 0 = off. */
  failedAuthPerMinute: number;
  /** Requests per minute per authenticated credential; 0 = off (the default). */
  perCredentialPerMinute: number;
  /** Clients (IPs, credentials) each limiter remembers. */
  maxTrackedClients: number;
}

/** Defaults of AbuseLimitsConfig. */
export const DEFAULT_ABUSE_LIMITS: Readonly<AbuseLimitsConfig> = Object.freeze({
  failedAuthPerMinute: 120,
  perCredentialPerMinute: 0,
  maxTrackedClients: 100_000,
});

const MAX_PER_MINUTE = 1_000_000;

function perMinute(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (raw.toLowerCase() === 'off' || raw === '0') return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_PER_MINUTE) {
    fail(name, `must be requests per minute (1 to ${MAX_PER_MINUTE}), or 0/off to disable, got "${raw}"`);
  }
  return Number(raw);
}

/** Reads the abuse limits; each error names its variable. */
export function loadAbuseLimits(env: Env): AbuseLimitsConfig {
  const d = DEFAULT_ABUSE_LIMITS;
  return {
    failedAuthPerMinute: perMinute(env, 'KEYPLANE_RATE_LIMIT_FAILED_AUTH', d.failedAuthPerMinute),
    perCredentialPerMinute: perMinute(env, 'KEYPLANE_RATE_LIMIT_PER_CREDENTIAL', d.perCredentialPerMinute),
    maxTrackedClients: integer(env, 'KEYPLANE_RATE_LIMIT_MAX_CLIENTS', d.maxTrackedClients, 100, 10_000_000),
  };
}

/** One line for the start summary. */
export function describeAbuseLimits(a: AbuseLimitsConfig): string {
  const failed = a.failedAuthPerMinute === 0 ? 'off' : `${a.failedAuthPerMinute}/min per IP`;
  const credential = a.perCredentialPerMinute === 0 ? 'off' : `${a.perCredentialPerMinute}/min per credential`;
  return `failed auth ${failed}, ${credential}, ${a.maxTrackedClients} clients tracked (per instance)`;
}
