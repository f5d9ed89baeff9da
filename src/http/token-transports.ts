/**
 * Where a playback token travels on a request, read at the HTTP edge: the `/playback/{token}/` path
 * segment, `Authorization: Bearer`, or one `?token=`. Each transport yields the canonical spelling
 * only (see canonicalToken), and a request that uses two transports at once is a 401.
 */
import { canonicalToken, invalidToken } from '../auth/canonical-token';

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

/** The raw (still percent-encoded) values of every `token` query parameter, in order. */
export function rawQueryTokens(originalUrl: string): string[] {
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
    if (name.trim().toLowerCase() === 'token') values.push(eq < 0 ? '' : pair.slice(eq + 1));
  }
  return values;
}

/** A cookie that could carry a token (we never set one, so any `token` cookie is a second transport). */
function hasTokenCookie(req: TokenTransports): boolean {
  return /(?:^|;)\s*token\s*=/i.test(req.get('cookie') ?? '');
}

/**
 * The token of a `/playback/{token}/...` route. The path segment must be the canonical token spelled
 * literally (no percent-encoding) and it must be the only transport: a `token` query parameter, an
 * `Authorization` header or a `token` cookie alongside it is a 401.
 */
export function pathToken(req: TokenTransports, decodedSegment: unknown): string {
  const token = canonicalToken(decodedSegment);
  const path = req.originalUrl.split('?')[0] ?? '';
  const literal = path.includes(`/playback/${token}/`);
  const mixed = rawQueryTokens(req.originalUrl).length > 0 || req.get('authorization') !== undefined;
  if (!literal || mixed || hasTokenCookie(req)) throw invalidToken();
  return token;
}

/**
 * The token of a request that authenticates by header or query (`/keys/...`): `Authorization: Bearer <jwt>`
 * (a bearer value with a `.`; API keys have none) or exactly one `?token=`; undefined when neither is sent
 * or when another credential header (an API key) is; 401 for a non-canonical value or for both at once.
 */
export function headerOrQueryToken(req: TokenTransports, bearer: string | undefined): string | undefined {
  const header = req.get('authorization');
  const queried = rawQueryTokens(req.originalUrl);
  const headerToken = header !== undefined && bearer !== undefined && bearer.includes('.');
  if (hasTokenCookie(req) && (headerToken || queried.length > 0)) throw invalidToken();
  if (header !== undefined) {
    if (!headerToken) return undefined;
    if (queried.length > 0 || authorizationHeaders(req) > 1) throw invalidToken();
    return canonicalToken(bearer);
  }
  if (req.get('x-api-key') !== undefined || queried.length === 0) return undefined;
  if (queried.length !== 1) throw invalidToken();
  return canonicalToken(queried[0]);
}
