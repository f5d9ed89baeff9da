import { parseOriginList } from '../auth/access-policy';
import type { CorsOrigins } from '../http/cors';
import { fail, integer, oneOf, optional, url, type Env } from './env';

/** Where the HTTP server listens and what it tells clients (`KEYPLANE_PORT`, `_HOST`, `_PUBLIC_URL`, ...). */
export interface ServerConfig {
  port: number;
  host: string;
  publicUrl: string;
  keyUrlTemplate?: string;
  adminKey?: string;
  /**
   * SHA-256 of the admin key, lower-case hex (`KEYPLANE_ADMIN_KEY_SHA256`), in place of the key: the
   * environment (a Lambda's configuration, an SSM parameter) then holds nothing that opens Keyplane.
   */
  adminKeySha256?: string;
  maxBodyBytes: number;
  logLevel: string;
  /** Browser origins allowed to call `/clearkey/license` (`KEYPLANE_CORS_ORIGINS`): `*` (default) or a list. */
  corsOrigins: CorsOrigins;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function keyUrlTemplate(env: Env): string | undefined {
  const name = 'KEYPLANE_KEY_URL_TEMPLATE';
  const template = url(env, name);
  if (template !== undefined && !template.includes('{kid}')) {
    fail(name, 'must contain {kid} (and usually {resourceId})');
  }
  return template;
}

function adminKey(env: Env): string | undefined {
  const key = optional(env, 'KEYPLANE_ADMIN_KEY');
  if (key !== undefined && key.length < 24) {
    fail('KEYPLANE_ADMIN_KEY', 'must be at least 24 characters (use a random secret)');
  }
  return key;
}

function adminKeySha256(env: Env): string | undefined {
  const name = 'KEYPLANE_ADMIN_KEY_SHA256';
  const hash = optional(env, name);
  if (hash === undefined) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(hash)) {
    fail(name, 'must be 64 hex digits: the SHA-256 of the admin key (printf %s "$KEY" | sha256sum)');
  }
  if (optional(env, 'KEYPLANE_ADMIN_KEY') !== undefined) {
    fail(name, 'set it or KEYPLANE_ADMIN_KEY, not both');
  }
  return hash.toLowerCase();
}

function corsOrigins(env: Env): CorsOrigins {
  const name = 'KEYPLANE_CORS_ORIGINS';
  const raw = optional(env, name);
  if (raw === undefined || raw === '*') return '*';
  let origins: string[] = [];
  try {
    origins = parseOriginList(raw);
  } catch (err) {
    fail(name, (err as Error).message);
  }
  if (origins.length === 0) fail(name, 'must be * or a comma-separated list of origins');
  return origins;
}

/** Reads the listener, public URL, admin key, body limit, log level and CORS variables. */
export function loadServerConfig(env: Env): ServerConfig {
  const port = integer(env, 'KEYPLANE_PORT', 8080, 0, 65535);
  const host = optional(env, 'KEYPLANE_HOST') ?? '127.0.0.1';
  const displayHost = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    host,
    publicUrl: url(env, 'KEYPLANE_PUBLIC_URL', `http://${displayHost}:${port}`) as string,
    keyUrlTemplate: keyUrlTemplate(env),
    adminKey: adminKey(env),
    adminKeySha256: adminKeySha256(env),
    maxBodyBytes: integer(env, 'KEYPLANE_MAX_BODY_BYTES', 1024 * 1024, 1024, 16 * 1024 * 1024),
    logLevel: oneOf(env, 'KEYPLANE_LOG_LEVEL', LOG_LEVELS, 'info'),
    corsOrigins: corsOrigins(env),
  };
}

/**
 * The log level for reporting a start that failed before config loaded: only an explicit
 * `KEYPLANE_LOG_LEVEL=silent` (tests) is honoured, so a broken deployment always logs why.
 */
export function startFailureLogLevel(env: Env): 'silent' | 'error' {
  return env.KEYPLANE_LOG_LEVEL === 'silent' ? 'silent' : 'error';
}
