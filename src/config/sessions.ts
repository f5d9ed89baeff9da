import { MIN_SESSION_SECRET_BYTES } from '../auth/session-ids';
import { boundedInteger, fail, oneOf, optional, type Env } from './env';

/** Session-level HLS encryption (`KEYPLANE_SESSION_*`); the route also needs KEYPLANE_ORIGIN_URL. */
export interface SessionsConfig {
  /** KEYPLANE_SESSION_SECRET as bytes; absent: derived from the local master key (not with KMS). */
  secret?: Buffer;
  ttlSeconds: number;
  /** Whether a session answers only the client address that opened it. */
  bindClientIp: boolean;
  segmentMaxBytes: number;
  segmentTimeoutMs: number;
}

/** Reads `KEYPLANE_SESSION_*`; the secret must be at least 32 characters (its bytes are the HKDF input). */
export function loadSessionsConfig(env: Env): SessionsConfig {
  const raw = optional(env, 'KEYPLANE_SESSION_SECRET');
  if (raw !== undefined && Buffer.byteLength(raw) < MIN_SESSION_SECRET_BYTES) {
    fail(
      'KEYPLANE_SESSION_SECRET',
      `must be at least ${MIN_SESSION_SECRET_BYTES} characters (e.g. openssl rand -base64 32)`,
    );
  }
  return {
    ...(raw === undefined ? {} : { secret: Buffer.from(raw) }),
    ttlSeconds: boundedInteger(env, 'KEYPLANE_SESSION_TTL_SECONDS', 4 * 3600, 60, 24 * 3600),
    bindClientIp: oneOf(env, 'KEYPLANE_SESSION_BIND_IP', ['true', 'false'], 'false') === 'true',
    segmentMaxBytes: boundedInteger(env, 'KEYPLANE_SESSION_SEGMENT_MAX_BYTES', 64 * 1024 * 1024, 1024, 1024 ** 3),
    segmentTimeoutMs: boundedInteger(env, 'KEYPLANE_SESSION_SEGMENT_TIMEOUT_MS', 60_000, 1000, 600_000),
  };
}

/** A summary safe to print at start: whether a secret is set, never the secret. */
export function describeSessions(config: SessionsConfig): Record<string, unknown> {
  return {
    secret: config.secret ? 'from KEYPLANE_SESSION_SECRET' : 'derived from the local master key (off with KMS)',
    ttlSeconds: config.ttlSeconds,
    bindClientIp: config.bindClientIp,
  };
}
