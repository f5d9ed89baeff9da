import path from 'node:path';
import { DEFAULT_AUDIT_RETENTION_DAYS, type AuditRetention } from './audit/audit-retention';
import { parseOriginList } from './auth/access-policy';
import { describeDelivery, loadDeliveryConfig, type DeliveryConfig } from './delivery-config';
import type { CorsOrigins } from './http/cors';
import { loadOriginConfig, type OriginConfig } from './hls/origin';

/** Configuration errors name the offending variable so an operator can fix it at once. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Everything Keyplane reads from the environment, validated once at start. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  publicUrl: string;
  keyUrlTemplate?: string;
  adminKey?: string;
  leaseTtlSeconds: number;
  maxBodyBytes: number;
  logLevel: string;
  store: 'sqlite' | 'dynamodb';
  table?: string;
  kmsKeyId?: string;
  awsEndpoint?: string;
  awsRegion: string;
  deployment: string;
  fairplayUriTemplate: string;
  widevineProvider: string;
  playreadyLaUrl?: string;
  deliveryCertSha256?: string[];
  /** Where `/playback/{token}/hls/...` fetches playlists (`KEYPLANE_ORIGIN_URL`); absent: route off. */
  origin?: OriginConfig;
  /** Browser origins allowed to call `/clearkey/license` (`KEYPLANE_CORS_ORIGINS`): `*` (default) or a list. */
  corsOrigins: CorsOrigins;
  /** SigV4, playback tokens, secure links, access policies (see delivery-config.ts). */
  delivery: DeliveryConfig;
  /** How long audit records are kept (`KEYPLANE_AUDIT_RETENTION_DAYS`): days (default 90) or `forever`. */
  auditRetention: AuditRetention;
  /** How long a client may take to send its headers, its whole request, and idle between requests. */
  timeouts: HttpTimeouts;
}

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

type Env = Record<string, string | undefined>;

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function url(env: Env, name: string, fallback?: string): string | undefined {
  const raw = optional(env, name) ?? fallback;
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw.replace(/\{[a-zA-Z]+\}/g, 'x'));
  } catch {
    throw new ConfigError(name, `must be an absolute URL, got "${raw}"`);
  }
  if (!['http:', 'https:', 'skd:'].includes(parsed.protocol)) {
    throw new ConfigError(name, `must use http(s), got "${parsed.protocol}"`);
  }
  return raw.replace(/\/+$/, '');
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function keyUrlTemplate(env: Env): string | undefined {
  const name = 'KEYPLANE_KEY_URL_TEMPLATE';
  const template = url(env, name);
  if (template !== undefined && !template.includes('{kid}')) {
    throw new ConfigError(name, 'must contain {kid} (and usually {resourceId})');
  }
  return template;
}

function adminKey(env: Env): string | undefined {
  const key = optional(env, 'KEYPLANE_ADMIN_KEY');
  if (key !== undefined && key.length < 24) {
    throw new ConfigError('KEYPLANE_ADMIN_KEY', 'must be at least 24 characters (use a random secret)');
  }
  return key;
}

function fingerprints(env: Env): string[] | undefined {
  const raw = optional(env, 'KEYPLANE_DELIVERY_CERT_SHA256');
  if (raw === undefined) return undefined;
  return raw.split(',').map((item) => {
    const hex = item.replace(/[:\s]/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new ConfigError('KEYPLANE_DELIVERY_CERT_SHA256', `"${item}" is not a SHA-256 fingerprint (64 hex digits)`);
    }
    return hex;
  });
}

function fairplayTemplate(env: Env): string {
  const name = 'KEYPLANE_FAIRPLAY_URI_TEMPLATE';
  const template = optional(env, name) ?? 'skd://{resourceId}/{kid}';
  if (!template.startsWith('skd://') || /["\s,]/.test(template)) {
    throw new ConfigError(name, 'must be an skd:// URI without quotes, commas or spaces (it goes into #EXT-X-KEY)');
  }
  return template;
}

function corsOrigins(env: Env): CorsOrigins {
  const name = 'KEYPLANE_CORS_ORIGINS';
  const raw = optional(env, name);
  if (raw === undefined || raw === '*') return '*';
  let origins: string[];
  try {
    origins = parseOriginList(raw);
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
  if (origins.length === 0) throw new ConfigError(name, 'must be * or a comma-separated list of origins');
  return origins;
}

/** Longest retention a number of days may name (100 years); beyond that, say `forever`. */
const MAX_AUDIT_RETENTION_DAYS = 36500;

function auditRetention(env: Env): AuditRetention {
  const name = 'KEYPLANE_AUDIT_RETENTION_DAYS';
  const raw = optional(env, name);
  if (raw?.toLowerCase() === 'forever') return 'forever';
  if (raw !== undefined && !/^\d+$/.test(raw)) {
    throw new ConfigError(name, `must be a whole number of days (1 or more) or "forever", got "${raw}"`);
  }
  if (raw !== undefined && Number(raw) === 0) {
    throw new ConfigError(name, 'must be at least 1 day; to keep records without limit, set it to "forever"');
  }
  return integer(env, name, DEFAULT_AUDIT_RETENTION_DAYS, 1, MAX_AUDIT_RETENTION_DAYS);
}

const TEN_MINUTES_MS = 10 * 60 * 1000;

function httpTimeouts(env: Env): HttpTimeouts {
  const d = DEFAULT_HTTP_TIMEOUTS;
  const headersTimeoutMs = integer(env, 'KEYPLANE_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 100, TEN_MINUTES_MS);
  const requestTimeoutMs = integer(env, 'KEYPLANE_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 100, TEN_MINUTES_MS);
  const keepAliveTimeoutMs = integer(env, 'KEYPLANE_KEEP_ALIVE_TIMEOUT_MS', d.keepAliveTimeoutMs, 100, TEN_MINUTES_MS);
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError(
      'KEYPLANE_REQUEST_TIMEOUT_MS',
      `must be at least KEYPLANE_HEADERS_TIMEOUT_MS (${headersTimeoutMs}): the request includes its headers, got ${requestTimeoutMs}`,
    );
  }
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs };
}

/** Reads and validates the environment; throws ConfigError naming the variable. */
export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'KEYPLANE_PORT', 8080, 0, 65535);
  const host = optional(env, 'KEYPLANE_HOST') ?? '127.0.0.1';
  const store = oneOf(env, 'KEYPLANE_STORE', ['sqlite', 'dynamodb'] as const, 'sqlite');
  const table = optional(env, 'KEYPLANE_TABLE');
  if (store === 'dynamodb' && table === undefined) {
    throw new ConfigError('KEYPLANE_TABLE', 'is required when KEYPLANE_STORE=dynamodb');
  }
  const displayHost = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    host,
    dataDir: path.resolve(optional(env, 'KEYPLANE_DATA_DIR') ?? './data'),
    publicUrl: url(env, 'KEYPLANE_PUBLIC_URL', `http://${displayHost}:${port}`) as string,
    keyUrlTemplate: keyUrlTemplate(env),
    adminKey: adminKey(env),
    leaseTtlSeconds: integer(env, 'KEYPLANE_LEASE_TTL_SECONDS', 600, 1, 7 * 24 * 3600),
    maxBodyBytes: integer(env, 'KEYPLANE_MAX_BODY_BYTES', 1024 * 1024, 1024, 16 * 1024 * 1024),
    logLevel: oneOf(env, 'KEYPLANE_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    store,
    table,
    kmsKeyId: optional(env, 'KEYPLANE_KMS_KEY_ID'),
    awsEndpoint: url(env, 'KEYPLANE_AWS_ENDPOINT'),
    awsRegion: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    deployment: optional(env, 'KEYPLANE_DEPLOYMENT') ?? 'keyplane',
    fairplayUriTemplate: fairplayTemplate(env),
    widevineProvider: optional(env, 'KEYPLANE_WIDEVINE_PROVIDER') ?? 'keyplane',
    playreadyLaUrl: url(env, 'KEYPLANE_PLAYREADY_LA_URL'),
    deliveryCertSha256: fingerprints(env),
    origin: loadOriginConfig(env, (variable, message) => {
      throw new ConfigError(variable, message);
    }),
    corsOrigins: corsOrigins(env),
    delivery: loadDeliveryConfig(env, (variable, message) => {
      throw new ConfigError(variable, message);
    }),
    auditRetention: auditRetention(env),
    timeouts: httpTimeouts(env),
  };
}

function describeRetention(retention: AuditRetention): string {
  if (retention === 'forever') return 'forever';
  return retention === 1 ? '1 day' : `${retention} days`;
}

/** A summary safe to print at start: no secrets. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    listen: `${config.host}:${config.port}`,
    publicUrl: config.publicUrl,
    keyUrlTemplate: config.keyUrlTemplate ?? '(own delivery route)',
    store: config.store === 'sqlite' ? `sqlite (${config.dataDir})` : `dynamodb (${config.table})`,
    cipher: config.kmsKeyId ? `aws-kms (${config.kmsKeyId})` : 'local master key',
    leaseTtlSeconds: config.leaseTtlSeconds,
    adminKey: config.adminKey ? 'from KEYPLANE_ADMIN_KEY' : 'stored hash',
    delivery: describeDelivery(config.delivery),
    origin: config.origin?.urlTemplate ?? 'off',
    auditRetention: describeRetention(config.auditRetention),
    timeouts: `headers ${config.timeouts.headersTimeoutMs} ms, request ${config.timeouts.requestTimeoutMs} ms, keep-alive ${config.timeouts.keepAliveTimeoutMs} ms`,
  };
}
