/**
 * `KEYPLANE_EDGEAUTH_*` (Akamai EdgeAuth tokens on key delivery) and `KEYPLANE_TOKEN_COOKIE` (the cookie
 * a browser player's playback token may travel in). Read here so the verifier gets validated values.
 */
import {
  DEFAULT_EDGEAUTH_TOKEN_NAME,
  EDGEAUTH_ALGORITHMS,
  type EdgeAuthAlgorithm,
  type EdgeAuthSettings,
} from '../auth/edgeauth-token';
import { DEFAULT_TENANT, isTenantId } from '../domain/tenants';
import { fail, oneOf, optional, type Env } from './env';

/** EdgeAuth verification settings plus the query/cookie name tokens travel in. */
export interface EdgeAuthConfig extends EdgeAuthSettings {
  /** `KEYPLANE_EDGEAUTH_TOKEN_NAME` (default `__token__`); `hdnts` is read too. */
  tokenName: string;
}

/** The playback-token cookie's name when `KEYPLANE_TOKEN_COOKIE` is unset. */
export const DEFAULT_TOKEN_COOKIE = 'keyplane_token';
/** A cookie / query parameter name we accept: RFC 6265 token characters, kept to a safe subset. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Shortest EdgeAuth key: 16 bytes, as Akamai's console generates (32 hex digits). */
const MIN_KEY_HEX = 32;

function hexKey(env: Env, name: string): Buffer | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(raw) || raw.length < MIN_KEY_HEX) {
    fail(name, `must be hex (an even number of 0-9 a-f digits, at least ${MIN_KEY_HEX}), as Akamai shows the key`);
  }
  return Buffer.from(raw, 'hex');
}

function name(env: Env, variable: string, fallback: string): string {
  const value = optional(env, variable) ?? fallback;
  if (!NAME.test(value)) fail(variable, `must be 1-64 of A-Z a-z 0-9 _ . -, got "${value}"`);
  return value;
}

/** The cookie a playback token may travel in (`KEYPLANE_TOKEN_COOKIE`, default `keyplane_token`). */
export function loadTokenCookie(env: Env): string {
  return name(env, 'KEYPLANE_TOKEN_COOKIE', DEFAULT_TOKEN_COOKIE);
}

/** Reads `KEYPLANE_EDGEAUTH_*`; undefined (EdgeAuth off) without `KEYPLANE_EDGEAUTH_KEY`. */
export function loadEdgeAuthConfig(env: Env, tokenCookie: string): EdgeAuthConfig | undefined {
  const key = hexKey(env, 'KEYPLANE_EDGEAUTH_KEY');
  const transition = hexKey(env, 'KEYPLANE_EDGEAUTH_TRANSITION_KEY');
  const algorithm = oneOf<EdgeAuthAlgorithm>(env, 'KEYPLANE_EDGEAUTH_ALGORITHM', EDGEAUTH_ALGORITHMS, 'sha256');
  const salt = optional(env, 'KEYPLANE_EDGEAUTH_SALT');
  const tenant = optional(env, 'KEYPLANE_EDGEAUTH_TENANT') ?? DEFAULT_TENANT;
  const tokenName = name(env, 'KEYPLANE_EDGEAUTH_TOKEN_NAME', DEFAULT_EDGEAUTH_TOKEN_NAME);
  if (key === undefined) {
    for (const other of ['TRANSITION_KEY', 'ALGORITHM', 'SALT', 'TENANT', 'TOKEN_NAME']) {
      if (optional(env, `KEYPLANE_EDGEAUTH_${other}`) !== undefined) {
        fail('KEYPLANE_EDGEAUTH_KEY', `is required when KEYPLANE_EDGEAUTH_${other} is set`);
      }
    }
    return undefined;
  }
  if (!isTenantId(tenant)) {
    fail(
      'KEYPLANE_EDGEAUTH_TENANT',
      'must be one tenant ID (1-63 of a-z 0-9 _ -), not * : the key is a tenant credential',
    );
  }
  if (tokenName.toLowerCase() === 'token' || tokenName === tokenCookie) {
    fail('KEYPLANE_EDGEAUTH_TOKEN_NAME', `must differ from "token" and KEYPLANE_TOKEN_COOKIE ("${tokenCookie}")`);
  }
  return { keys: transition ? [key, transition] : [key], algorithm, ...(salt ? { salt } : {}), tenant, tokenName };
}

/** A start-up summary without secrets. */
export function describeEdgeAuth(config: EdgeAuthConfig | undefined): string {
  if (!config) return 'off';
  const rotation = config.keys.length > 1 ? ', with a transition key' : '';
  return `HMAC-${config.algorithm.toUpperCase()} for tenant ${config.tenant} (${config.tokenName}, hdnts${rotation})`;
}
