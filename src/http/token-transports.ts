/**
 * Where a player's credential travels on a request, read at the HTTP edge: a playback token in the
 * `/playback/{token}/` path segment, `Authorization: Bearer`, one `?token=` or the configured cookie;
 * an EdgeAuth token in one query parameter or cookie (`__token__` or the configured name, `hdnts`).
 * Each transport yields one spelling only (see canonicalToken), and a request that uses two transports
 * at once is a 401.
 */
import { canonicalToken, invalidToken } from '../auth/canonical-token';
import { UnauthorizedError } from '../errors';

/** The part of a request the token transports look at (kept structural so this module needs no `express`). */
export interface TokenTransports {
  /** The request target as received (path and raw query, before percent-decoding). */
  originalUrl: string;
  get(name: string): string | undefined;
  /** Header names and values as received: Node keeps only the first of repeated `Authorization` headers. */
  rawHeaders?: string[];
}

function authorizationHeaders(req: TokenTransports): number {
  const raw = req.rawHeaders ?? [];
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'authorization') n++;
  return n;
}

/** The raw (still percent-encoded) values of every query parameter named one of `names` (lower-case), in order. */
export function rawQueryValues(originalUrl: string, names: readonly string[]): string[] {
  const at = originalUrl.indexOf('?');
  if (at < 0) return [];
  const values: string[] = [];
  for (const pair of originalUrl.slice(at + 1).split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
    } catch {
      name = rawName;
    }
    if (names.includes(name.trim().toLowerCase())) values.push(eq < 0 ? '' : pair.slice(eq + 1));
  }
  return values;
}

/** The raw (still percent-encoded) values of every `token` query parameter, in order. */
export function rawQueryTokens(originalUrl: string): string[] {
  return rawQueryValues(originalUrl, ['token']);
}

/**
 * The non-empty values of every cookie named one of `names` (compared lower-case) in the `Cookie` header, in
 * order. An emptied cookie (a site's logout) carries no credential, so it is neither a token nor a conflict.
 */
export function cookieValues(req: TokenTransports, names: readonly string[]): string[] {
  const values: string[] = [];
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const eq = pair.indexOf('=');
    const value = pair.slice(eq + 1).trim();
    if (eq > 0 && value !== '' && names.includes(pair.slice(0, eq).trim().toLowerCase())) values.push(value);
  }
  return values;
}

/** A `token` cookie: not a transport (unless it is the configured cookie), so it only ever makes a request ambiguous. */
function hasTokenCookie(req: TokenTransports): boolean {
  return /(?:^|;)\s*token\s*=/i.test(req.get('cookie') ?? '');
}

/** Whether the request carries the configured playback-token cookie (`KEYPLANE_TOKEN_COOKIE`). */
function hasCookie(req: TokenTransports, cookieName: string | undefined): boolean {
  return cookieName !== undefined && cookieValues(req, [cookieName.toLowerCase()]).length > 0;
}

/**
 * The token of a `/playback/{token}/...` route. The path segment must be the canonical token spelled
 * literally (no percent-encoding) and it must be the only transport: a `token` query parameter, an
 * `Authorization` header, a `token` cookie or the playback-token cookie alongside it is a 401.
 */
export function pathToken(req: TokenTransports, decodedSegment: unknown, cookieName?: string): string {
  const token = canonicalToken(decodedSegment);
  const path = req.originalUrl.split('?')[0] ?? '';
  const literal = path.includes(`/playback/${token}/`);
  const mixed = rawQueryTokens(req.originalUrl).length > 0 || req.get('authorization') !== undefined;
  if (!literal || mixed || hasTokenCookie(req) || hasCookie(req, cookieName)) throw invalidToken();
  return token;
}

/**
 * The token of a request that authenticates by header, query or cookie (`/keys/...`): `Authorization:
 * Bearer <jwt>` (a bearer value with a `.`; API keys have none), exactly one `?token=`, or exactly one
 * cookie named `cookieName`; undefined when none is sent or when another credential header (an API key)
 * is; 401 for a non-canonical value or for two transports at once (the cookie with any credential header
 * or `?token=` included: a browser's cookie next to a header is ambiguous, never silently one of them).
 */
export function headerOrQueryToken(
  req: TokenTransports,
  bearer: string | undefined,
  cookieName?: string,
): string | undefined {
  const header = req.get('authorization');
  const queried = rawQueryTokens(req.originalUrl);
  const headerToken = header !== undefined && bearer !== undefined && bearer.includes('.');
  const cookies = cookieName === undefined ? [] : cookieValues(req, [cookieName.toLowerCase()]);
  const legacyCookie = cookieName?.toLowerCase() !== 'token' && hasTokenCookie(req);
  if (legacyCookie && (headerToken || queried.length > 0 || cookies.length > 0)) throw invalidToken();
  if (cookies.length > 0) {
    const credentialHeader = header !== undefined || req.get('x-api-key') !== undefined;
    if (credentialHeader || queried.length > 0 || cookies.length > 1) throw invalidToken();
    return canonicalToken(cookies[0]);
  }
  if (header !== undefined) {
    if (!headerToken) return undefined;
    if (queried.length > 0 || authorizationHeaders(req) > 1) throw invalidToken();
    return canonicalToken(bearer);
  }
  if (req.get('x-api-key') !== undefined || queried.length === 0) return undefined;
  if (queried.length !== 1) throw invalidToken();
  return canonicalToken(queried[0]);
}

/** A token value that starts with an EdgeAuth field is sent as is; anything else was percent-encoded once. */
const EDGEAUTH_FIELD_START = /^(?:ip|st|exp|acl|id|data|hmac)=/;

/**
 * The EdgeAuth token of a request: the one query parameter or cookie named `tokenName` or `hdnts`;
 * undefined when none is sent. 401 when several are, or when any other credential rides along
 * (`Authorization`, `x-api-key`, `?token=`, a `token` or playback-token cookie): two credentials are
 * ambiguous. A value that does not start with a field (`exp=…`) is percent-decoded once.
 */
export function edgeAuthToken(req: TokenTransports, tokenName: string, playbackCookie?: string): string | undefined {
  const names = [...new Set([tokenName.toLowerCase(), 'hdnts'])];
  const values = [...rawQueryValues(req.originalUrl, names), ...cookieValues(req, names)];
  const raw = values[0];
  if (raw === undefined) return undefined;
  const other =
    req.get('authorization') !== undefined ||
    req.get('x-api-key') !== undefined ||
    rawQueryTokens(req.originalUrl).length > 0 ||
    hasTokenCookie(req) ||
    hasCookie(req, playbackCookie);
  if (values.length > 1 || other) {
    throw new UnauthorizedError('Send one credential: one EdgeAuth token (query parameter or cookie) and no other');
  }
  if (EDGEAUTH_FIELD_START.test(raw)) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new UnauthorizedError('Malformed EdgeAuth token: bad percent-encoding');
  }
}
