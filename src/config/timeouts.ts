import { fail, integer, type Env } from './env';

/**
 * Slow senders are cut off: a key server answers small requests, so a client that dribbles its
 * headers (`KEYPLANE_HEADERS_TIMEOUT_MS`, default 10 s) or its whole request with body
 * (`KEYPLANE_REQUEST_TIMEOUT_MS`, default 30 s) gets 408 and loses the connection. Idle keep-alive
 * connections (`KEYPLANE_KEEP_ALIVE_TIMEOUT_MS`, default 65 s) stay open longer than a load balancer's
 * idle timeout (ALB: 60 s), so the balancer, not Keyplane, closes them and never reuses a closed one.
 */
export interface HttpTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** Defaults of HttpTimeouts (see there for why). */
export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
});

const TEN_MINUTES_MS = 10 * 60 * 1000;

/** Reads the three HTTP timeouts; the request timeout must cover the headers timeout. */
export function loadHttpTimeouts(env: Env): HttpTimeouts {
  const d = DEFAULT_HTTP_TIMEOUTS;
  const headersTimeoutMs = integer(env, 'KEYPLANE_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 100, TEN_MINUTES_MS);
  const requestTimeoutMs = integer(env, 'KEYPLANE_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 100, TEN_MINUTES_MS);
  const keepAliveTimeoutMs = integer(env, 'KEYPLANE_KEEP_ALIVE_TIMEOUT_MS', d.keepAliveTimeoutMs, 100, TEN_MINUTES_MS);
  if (requestTimeoutMs < headersTimeoutMs) {
    fail(
      'KEYPLANE_REQUEST_TIMEOUT_MS',
      `must be at least KEYPLANE_HEADERS_TIMEOUT_MS (${headersTimeoutMs}): the request includes its headers, got ${requestTimeoutMs}`,
    );
  }
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs };
}

/** One line for the start summary. */
export function describeTimeouts(t: HttpTimeouts): string {
  return `headers ${t.headersTimeoutMs} ms, request ${t.requestTimeoutMs} ms, keep-alive ${t.keepAliveTimeoutMs} ms`;
}
