/**
 * CORS for the routes browsers call cross-origin (`POST /clearkey/license`). There
 * `Access-Control-Allow-Credentials` is never sent, so a cross-site page that makes the browser send a
 * token cookie cannot read the answer, and `*` exposes nothing a page did not already hold; a list
 * narrows it to known player origins. Key responses to an
 * origin the delivery policy lists explicitly also allow credentials (see credentialedCors), so a
 * cross-site player may send its cookie; never with `*`.
 */
import { AccessDeniedError } from '../auth/delivery-errors';
import { corsAllow, OriginMatcher, originMatches, type CorsHeaders } from '../auth/origin-matcher';

/** Origin entries are matched by the one origin rule (see origin-matcher.ts); re-exported for CORS callers. */
export { originMatches };

/** Which browser origins may call: any (`*`) or a list of `https://player.example.com` / `https://*.example.com`. */
export type CorsOrigins = '*' | readonly string[];

/** Request headers a license request may carry. */
const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, X-Api-Key';
/** How long a browser may cache a preflight answer, in seconds. */
const CORS_MAX_AGE_SECONDS = 600;

/** The `Access-Control-Allow-Origin` value for this origin, or undefined when it is not allowed. */
export function allowedOrigin(origins: CorsOrigins, origin: string): string | undefined {
  if (origins === '*') return '*';
  return new OriginMatcher(origins).matches(origin) ? origin : undefined;
}

/**
 * The CORS decision for a request's `Origin` header: no headers without one, the allow headers for an
 * allowed origin, 403 `origin_denied` for any other.
 */
export function corsDecision(origins: CorsOrigins, origin: string | undefined): CorsHeaders {
  if (origin === undefined) return {};
  const allowed = allowedOrigin(origins, origin);
  if (allowed === undefined) {
    throw new AccessDeniedError('origin_denied', 'Origin is not allowed by KEYPLANE_CORS_ORIGINS');
  }
  return corsAllow(allowed);
}

/**
 * CORS headers of a delivery the access policy allowed for an explicitly listed origin, with
 * `Access-Control-Allow-Credentials: true` so a cross-site player can read a key it fetched with its
 * cookie (KEYPLANE_TOKEN_COOKIE, EdgeAuth). Never for `*`: any page could then read what any visitor's
 * cookie opens. Without an allowed origin nothing is added, and the browser withholds the response.
 */
export function credentialedCors(headers: CorsHeaders | undefined): CorsHeaders | undefined {
  const origin = headers?.['Access-Control-Allow-Origin'];
  if (origin === undefined || origin === '*') return headers;
  return { ...headers, 'Access-Control-Allow-Credentials': 'true' };
}

/** The headers of a preflight answer (`OPTIONS`), after the origin was allowed. */
export function preflightHeaders(methods: string): CorsHeaders {
  return {
    Allow: `${methods}, OPTIONS`,
    'Access-Control-Allow-Methods': `${methods}, OPTIONS`,
    'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS,
    'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
    'Cache-Control': 'no-store',
  };
}
