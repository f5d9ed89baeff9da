/**
 * Everything Keyplane reads from the environment, validated once at start. Each section has its
 * own file (`server.ts`, `store.ts`, `keys.ts`, `speke.ts`, `aws.ts`, `origin.ts`, `delivery.ts`,
 * `audit.ts`) reading variables only through `env.ts`; inner layers never import this folder,
 * they get the values they need passed in.
 */
import type { AuditRetention } from '../audit/audit-retention';
import { ConfigError } from '../errors';
import type { OriginConfig } from '../hls/origin';
import { describeAbuseLimits, loadAbuseLimits, type AbuseLimitsConfig } from './abuse';
import { describeRetention, loadAuditRetention } from './audit';
import { loadAwsConfig, type AwsConfig } from './aws';
import { describeDelivery, loadDeliveryConfig, type DeliveryConfig } from './delivery';
import { processEnv, type Env } from './env';
import { loadKeysConfig, type KeysConfig } from './keys';
import { loadOriginConfig } from './origin';
import { describeSessions, loadSessionsConfig, type SessionsConfig } from './sessions';
import { loadServerConfig, startFailureLogLevel, type ServerConfig } from './server';
import { loadSpekeConfig, type SpekeConfig } from './speke';
import { describeDatabase, loadStoreConfig, type StoreConfig } from './store';
import { loadTenantsConfig, type TenantsConfig } from './tenants';
import { describeTimeouts, loadHttpTimeouts, type HttpTimeouts } from './timeouts';
import { loadWorkers } from './workers';
import { loadThreadsConfig, type ThreadsConfig } from './threads';
import { describeWidevine, loadWidevineConfig, type WidevineConfig } from './widevine';

export { ConfigError, processEnv, startFailureLogLevel };
export type { DeliveryConfig, Env };
export type { SigV4Config } from './delivery';
export { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from './timeouts';
export { DEFAULT_ABUSE_LIMITS, type AbuseLimitsConfig } from './abuse';

/** Everything Keyplane reads from the environment, validated once at start. */
export interface Config
  extends ServerConfig, StoreConfig, KeysConfig, AwsConfig, SpekeConfig, TenantsConfig, ThreadsConfig {
  /** Where `/playback/{token}/hls/...` fetches playlists (`KEYPLANE_ORIGIN_URL`); absent: route off. */
  origin?: OriginConfig;
  /** SigV4, playback tokens, secure links, access policies (see config/delivery.ts). */
  delivery: DeliveryConfig;
  /** How long audit records are kept (`KEYPLANE_AUDIT_RETENTION_DAYS`): days (default 90) or `forever`. */
  auditRetention: AuditRetention;
  /** How long a client may take to send its headers, its whole request, and idle between requests. */
  timeouts: HttpTimeouts;
  /** Rate limits against brute force and floods (see config/abuse.ts). */
  abuseLimits: AbuseLimitsConfig;
  /** Server processes sharing the port (`KEYPLANE_WORKERS`: a number or `auto`; default 1). */
  workers: number;
  /** Session-level HLS encryption (see config/sessions.ts). */
  sessions: SessionsConfig;
  /** The Widevine Common Encryption API's signers (see config/widevine.ts); absent: `/widevine/cenc` off. */
  widevine?: WidevineConfig;
}

/** Reads and validates the environment; throws ConfigError naming the variable. */
export function loadConfig(env: Env = processEnv()): Config {
  const workers = loadWorkers(env);
  const delivery = loadDeliveryConfig(env);
  const origin = loadOriginConfig(env);
  return {
    ...loadServerConfig(env),
    ...loadStoreConfig(env),
    ...loadKeysConfig(env),
    ...loadAwsConfig(env),
    ...loadSpekeConfig(env),
    ...loadTenantsConfig(env),
    // A renamed EdgeAuth token is a credential the origin must never see, like `token` and `__token__`.
    origin: origin && delivery.edgeAuth ? { ...origin, credentialParams: [delivery.edgeAuth.tokenName] } : origin,
    delivery,
    auditRetention: loadAuditRetention(env),
    timeouts: loadHttpTimeouts(env),
    abuseLimits: loadAbuseLimits(env),
    workers,
    ...loadThreadsConfig(env, workers),
    sessions: loadSessionsConfig(env),
    widevine: loadWidevineConfig(env),
  };
}

/** A summary safe to print at start: no secrets. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    listen: `${config.host}:${config.port}`,
    publicUrl: config.publicUrl,
    keyUrlTemplate: config.keyUrlTemplate ?? '(own delivery route)',
    store:
      config.store === 'postgres'
        ? describeDatabase(config.database)
        : config.store === 'sqlite'
          ? `sqlite (${config.dataDir})`
          : `dynamodb (table ${config.table}, region ${config.awsRegion}${config.awsEndpoint ? `, endpoint ${config.awsEndpoint}` : ''})`,
    cipher: config.kmsKeyId
      ? `aws-kms (key ${config.kmsKeyId}, region ${config.awsRegion})`
      : `local master key (${config.dataDir})`,
    leaseTtlSeconds: config.leaseTtlSeconds,
    adminKey: config.adminKey
      ? 'from KEYPLANE_ADMIN_KEY'
      : config.adminKeySha256
        ? 'its SHA-256 from KEYPLANE_ADMIN_KEY_SHA256'
        : 'stored hash',
    delivery: describeDelivery(config.delivery),
    origin: config.origin?.urlTemplate ?? 'off',
    auditRetention: describeRetention(config.auditRetention),
    timeouts: describeTimeouts(config.timeouts),
    abuseLimits: describeAbuseLimits(config.abuseLimits),
    sessions: describeSessions(config.sessions),
    iamTenants: config.iamTenants.map((r) => `${r.pattern}=${r.tenant}`),
    workers: config.workers,
    spekeThreads: config.spekeThreads,
    spekeSmallOnThreads: config.spekeSmallOnThreads,
    sqliteWriterThread: config.sqliteWriterThread,
    widevine: describeWidevine(config.widevine),
  };
}
