import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { KeyplaneError } from '../errors';
import { clientIp } from './client-info';
import { toKeyplaneError } from './error-handler';
import { RateLimiter } from './rate-limit';
import { SharedRateLimiter, type RateChannel, type RateCounter } from './shared-rate-limit';

/** The limits createApp applies (from `config.abuseLimits`); 0 turns a limit off. */
export interface AbuseLimits {
  failedAuthPerMinute: number;
  perCredentialPerMinute: number;
  maxTrackedClients: number;
}

/** Too many requests (429) with `Retry-After` and a message saying which limit. */
class RateLimitedError extends KeyplaneError {
  constructor(seconds: number, what: string) {
    super(429, 'rate_limited', `Too many ${what}: retry after ${seconds} s`, {
      headers: { 'Retry-After': String(seconds) },
      details: { reason: 'rate_limited' },
    });
  }
}

/**
 * 403 reasons that mean a forged or guessed credential (counted like a 401); the others (IP or origin
 * policy, a token used for another resource) are refusals of a genuine caller and never count.
 */
const CREDENTIAL_FAILURES = new Set([
  'secure_link_invalid',
  'signature_mismatch',
  'unknown_access_key',
  'malformed_signature',
  'scope_mismatch',
  'unsigned_headers',
  'request_time_skewed',
  'edgeauth_hmac_mismatch',
]);

/** Whether a finished request counts against its IP's failed-auth limit. */
function failedAuth(res: Response): boolean {
  if (res.statusCode === 401) return true;
  // A protocol that answers its credential failures with 200 (the Widevine API's SIGNATURE_FAILED) says so here.
  if (res.locals.credentialFailed === true) return true;
  const refusal = res.locals.refusal as { status: number; reason?: string } | undefined;
  return res.statusCode === 403 && refusal?.reason !== undefined && CREDENTIAL_FAILURES.has(refusal.reason);
}

/** The middlewares of the abuse limits: before anything else, after authentication, and an error note. */
interface AbuseLimitMiddleware {
  /** Refuses an IP over its failed-auth limit before any work; counts each failed request when it finishes. */
  beforeAuth: RequestHandler;
  /** Per-credential limit (off by default): counts every request of an authenticated principal. */
  afterAuth: RequestHandler;
  /** Error middleware: notes the refusal's status and reason for `beforeAuth`'s count, then passes it on. */
  noteRefusal: ErrorRequestHandler;
  /** The limiters (tests and figures read their size). */
  failedAuth?: RateCounter;
  perCredential?: RateCounter;
}

/**
 * Rate limits against brute force of API keys, tokens and secure links, and against floods: in memory,
 * per instance (N instances allow N× the limit); the workers of `serve --workers N` share theirs through
 * `channel` (their primary). Only unauthenticated or failed requests count against the default per-IP
 * limit, so a caller whose requests succeed never meets a 429 it did not configure.
 */
export function abuseLimits(
  limits: AbuseLimits,
  now: () => number = Date.now,
  channel?: RateChannel,
): AbuseLimitMiddleware {
  const counter = (name: string, perMinute: number): RateCounter | undefined => {
    if (perMinute <= 0) return undefined;
    return channel
      ? new SharedRateLimiter(name, perMinute, limits.maxTrackedClients, channel, now)
      : new RateLimiter(perMinute, limits.maxTrackedClients, now);
  };
  const failed = counter('failed-auth', limits.failedAuthPerMinute);
  const perCredential = counter('per-credential', limits.perCredentialPerMinute);
  const beforeAuth: RequestHandler = (req: Request, res, next) => {
    // A load balancer's health check shares the address of every client behind it when proxies are not
    // trusted: a blocked address must not take the instance out of rotation. It takes no credential.
    if (!failed || req.path === '/healthz') return next();
    const ip = clientIp(req);
    const wait = failed.retryAfter(ip);
    if (wait > 0) return next(new RateLimitedError(wait, 'failed or unauthenticated requests from this address'));
    res.once('finish', () => {
      if (failedAuth(res)) failed.take(ip);
    });
    next();
  };
  const afterAuth: RequestHandler = (req, _res, next) => {
    if (!perCredential || !req.principal) return next();
    const wait = perCredential.tryTake(req.principal.id);
    if (wait > 0) return next(new RateLimitedError(wait, 'requests for this credential'));
    next();
  };
  const noteRefusal: ErrorRequestHandler = (err, _req, res, next) => {
    const known = toKeyplaneError(err);
    if (known) res.locals.refusal = { status: known.status, reason: known.details.reason as string | undefined };
    next(err);
  };
  return { beforeAuth, afterAuth, noteRefusal, failedAuth: failed, perCredential };
}
