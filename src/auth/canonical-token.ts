/**
 * The one spelling of a playback token, on every transport: exactly a compact JWS, three base64url
 * segments without padding or whitespace, each segment the canonical encoding of its bytes. Node's
 * base64 decoder skips characters it does not know and ignores trailing bits, so without this check
 * `<jwt>=`, `<jwt>%20` or a flipped last bit would verify as the same token (a second spelling that
 * caches, logs and replay checks would count as another credential).
 */
import { UnauthorizedError } from '../errors';

const SEGMENTS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
/** Longest token we read: ours are ~300 characters; this leaves room for KID lists. */
const MAX_TOKEN_CHARS = 8192;

/** The 401 every non-canonical or mixed presentation gets; never quotes what was presented. */
export function invalidToken(): UnauthorizedError {
  return new UnauthorizedError('Invalid playback token');
}

function canonicalSegment(segment: string): boolean {
  return Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

/** Returns `value` when it is a canonical compact JWS; otherwise throws UnauthorizedError (401). */
export function canonicalToken(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_TOKEN_CHARS) throw invalidToken();
  const parts = SEGMENTS.exec(value);
  if (!parts || !parts.slice(1).every(canonicalSegment)) throw invalidToken();
  return value;
}
