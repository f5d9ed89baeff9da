/**
 * Akamai EdgeAuth (Token Auth 2.0) verification, express-free: the tokens CDNs already issue to
 * players (`exp=…~acl=/vod/*~hmac=…`) open key delivery for one tenant, on the paths their ACL covers.
 *
 * The algorithm is Akamai's generators' (akamai-edgeauth for Node, EdgeAuth-Token-Python/-Java): the
 * token is `name=value` fields joined by `~` in the order ip, st, exp, acl, id, data, then hmac; the HMAC
 * (hex key) covers the token text before `~hmac=`, followed for a URL token (no `acl`) by `~url=<path>`
 * and, when a salt is configured, by `~salt=<salt>`. Escape-early tokens verify as sent: the escaped
 * field values are what was signed.
 *
 * ACLs are matched against the request path as received (no percent-decoding, no query). A path with a
 * dot segment or an encoded `.`, `/` or `\` is never covered, and a path holding any other `%` escape
 * must be covered both as received and percent-decoded, so an escape cannot move a request out of (or
 * into) what the ACL names.
 */
import crypto from 'node:crypto';
import { UnauthorizedError } from '../errors';
import { AccessDeniedError } from './delivery-errors';
import { EdgeAuthExpiredError } from './token-errors';

/** The HMACs Akamai's generators offer; only the configured one is accepted. */
export const EDGEAUTH_ALGORITHMS = ['sha256', 'sha1', 'md5'] as const;
/** One of EDGEAUTH_ALGORITHMS. */
export type EdgeAuthAlgorithm = (typeof EDGEAUTH_ALGORITHMS)[number];

/** The query parameter and cookie name Akamai uses by default; `hdnts` (its older name) is also read. */
export const DEFAULT_EDGEAUTH_TOKEN_NAME = '__token__';
/** How far a token's `st` may lie ahead of our clock (clock skew between the issuer and us), seconds. */
export const EDGEAUTH_CLOCK_SKEW_SECONDS = 60;
/** Longest token read; Akamai's edge limits tokens to a few KB too. */
const MAX_TOKEN_CHARS = 4096;
const HEX_CHARS: Record<EdgeAuthAlgorithm, number> = { sha256: 64, sha1: 40, md5: 32 };
const FIELDS = ['ip', 'st', 'exp', 'acl', 'id', 'data', 'hmac'] as const;
type Field = (typeof FIELDS)[number];

/** How a deployment verifies EdgeAuth tokens (see config/edgeauth.ts). */
export interface EdgeAuthSettings {
  /** The current key, then the transition key (rotation): raw bytes of the hex secrets. */
  keys: readonly Buffer[];
  algorithm: EdgeAuthAlgorithm;
  salt?: string;
  /** The tenant whose resources these tokens open (the key is that tenant's credential). */
  tenant: string;
}

/** What a request presents to the check: the path as received (no query) and the client address. */
export interface EdgeAuthRequest {
  rawPath: string;
  clientIp?: string;
}

/** A verified token: who (its `id`, if any), for which tenant, until when. */
export interface EdgeAuthGrant {
  id?: string;
  tenant: string;
  expiresAt: Date;
}

/** The 401 of a token that cannot be read; never quotes it. */
function malformed(why: string): UnauthorizedError {
  return new UnauthorizedError(`Malformed EdgeAuth token: ${why}`);
}

/** Splits a token into its fields: known names only, each once, `exp` and `hmac` required, `hmac` last. */
export function parseEdgeAuthToken(token: string): Map<Field, string> {
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw malformed(`1-${MAX_TOKEN_CHARS} characters`);
  const fields = new Map<Field, string>();
  const parts = token.split('~');
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq) as Field;
    if (eq <= 0 || !FIELDS.includes(name)) throw malformed('fields are ip, st, exp, acl, id, data and hmac');
    if (fields.has(name)) throw malformed(`field ${name} appears twice`);
    if (eq === part.length - 1) throw malformed(`field ${name} is empty`);
    fields.set(name, part.slice(eq + 1));
  }
  if (!parts[parts.length - 1]?.startsWith('hmac=')) throw malformed('hmac must be the last field');
  if (!fields.has('exp')) throw malformed('exp is required');
  for (const time of ['exp', 'st'] as const) {
    const v = fields.get(time);
    if (v !== undefined && !/^\d{1,12}$/.test(v)) throw malformed(`${time} must be seconds since the epoch`);
  }
  if (!/^[0-9a-f]{32,64}$/.test(fields.get('hmac') ?? ''))
    throw malformed('hmac must be 32 to 64 lower-case hex digits');
  return fields;
}

/** Percent-decodes once; undefined for a malformed escape. */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Whether `path` matches one ACL entry, where `*` stands for any run of characters (`/` included). */
export function aclEntryMatches(entry: string, path: string): boolean {
  const parts = entry.split('*');
  const first = parts[0] as string;
  if (parts.length === 1) return entry === path;
  const last = parts[parts.length - 1] as string;
  if (!path.startsWith(first) || path.length < first.length + last.length) return false;
  let at = first.length;
  const end = path.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = path.indexOf(middle, at);
    if (found < 0 || found + middle.length > end) return false;
    at = found + middle.length;
  }
  return path.endsWith(last);
}

/** Dot segments or encoded `.`, `/`, `\`: a path whose meaning could change after our match. */
const UNSAFE_PATH = /(?:^|\/)\.{1,2}(?:\/|$)|%2e|%2f|%5c|\\/i;

/** Whether an `!`-separated ACL covers the path as received (and decoded, when it holds escapes). */
export function aclCovers(acl: string, rawPath: string): boolean {
  if (UNSAFE_PATH.test(rawPath)) return false;
  const entries = acl.split('!');
  const covers = (p: string) => entries.some((e) => e.length > 0 && aclEntryMatches(e, p));
  if (!covers(rawPath)) return false;
  if (!rawPath.includes('%')) return true;
  const plain = decoded(rawPath);
  return plain !== undefined && !UNSAFE_PATH.test(plain) && covers(plain);
}

/** An IPv4-mapped IPv6 address as its IPv4 form, so `::ffff:10.0.0.1` and `10.0.0.1` compare equal. */
function plainIp(ip: string): string {
  return ip.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

/**
 * Verifies EdgeAuth tokens for one deployment. The order of checks means nothing is learnt from an
 * unsigned token: 401 malformed, then 403 wrong HMAC (every key tried, compared in constant time), then
 * 410 expired, 403 not yet valid (`st` beyond the skew), 403 wrong client IP, 403 path outside the ACL.
 */
export class EdgeAuthVerifier {
  constructor(
    private readonly settings: EdgeAuthSettings,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (settings.keys.length === 0) throw new Error('EdgeAuth needs at least one key');
  }

  /** The tenant these tokens act for. */
  get tenant(): string {
    return this.settings.tenant;
  }

  /** Checks `token` for `req`; returns what it grants or throws the refusal. */
  verify(token: string, req: EdgeAuthRequest): EdgeAuthGrant {
    const fields = parseEdgeAuthToken(token);
    this.checkHmac(token, fields, req.rawPath);
    const nowSeconds = Math.floor(this.now().getTime() / 1000);
    const exp = Number(fields.get('exp'));
    if (nowSeconds >= exp) throw new EdgeAuthExpiredError();
    const st = fields.get('st');
    if (st !== undefined && Number(st) > nowSeconds + EDGEAUTH_CLOCK_SKEW_SECONDS) {
      throw new AccessDeniedError('edgeauth_not_yet_valid', 'EdgeAuth token is not valid yet (st is in the future)');
    }
    const ip = fields.get('ip');
    if (ip !== undefined && (req.clientIp === undefined || plainIp(decoded(ip) ?? ip) !== plainIp(req.clientIp))) {
      throw new AccessDeniedError('edgeauth_ip_mismatch', 'EdgeAuth token was issued for another client IP');
    }
    const acl = fields.get('acl');
    if (acl !== undefined && !aclCovers(acl, req.rawPath)) {
      throw new AccessDeniedError('edgeauth_acl_denied', 'EdgeAuth token ACL does not cover this path');
    }
    const id = fields.get('id');
    return {
      ...(id !== undefined ? { id: decoded(id) ?? id } : {}),
      tenant: this.settings.tenant,
      expiresAt: new Date(exp * 1000),
    };
  }

  private checkHmac(token: string, fields: Map<Field, string>, rawPath: string): void {
    const { algorithm, salt, keys } = this.settings;
    const presented = Buffer.from(fields.get('hmac') as string, 'utf8');
    if (presented.length !== HEX_CHARS[algorithm]) {
      throw new AccessDeniedError(
        'edgeauth_hmac_mismatch',
        `EdgeAuth hmac does not match (this deployment accepts HMAC-${algorithm.toUpperCase()} tokens only)`,
      );
    }
    // A URL token (no acl) signs the path it was issued for: verified against the path requested.
    let signed = token.slice(0, token.lastIndexOf('~hmac='));
    if (!fields.has('acl')) signed += `~url=${rawPath}`;
    if (salt !== undefined) signed += `~salt=${salt}`;
    let ok = false;
    for (const key of keys) {
      const expected = Buffer.from(crypto.createHmac(algorithm, key).update(signed).digest('hex'), 'utf8');
      ok = crypto.timingSafeEqual(expected, presented) || ok;
    }
    if (!ok) throw new AccessDeniedError('edgeauth_hmac_mismatch', 'EdgeAuth hmac does not match');
  }
}
