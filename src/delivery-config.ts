import { parseIpList, parseOriginList, parseTrustedProxies } from './auth/access-policy';
import { parseSigV4Credentials, type SigV4Credential } from './auth/sigv4-credentials';
import { CLIENT_ID_PATTERN, type SecureLinkConfig, type SecureTokenAlgorithm } from './auth/secure-token';
import { parseTokenSigningKeys, type TokenSigningKey } from './auth/token-keys';
import type { AccessRules } from './store/records';
import { readSecretFile } from './util/secret-file';

/** SigV4 verification settings; absent when no credentials are configured. */
export interface SigV4Config {
  credentials?: SigV4Credential[];
  credentialsFile?: string;
  service: string;
  region: string;
}

/** How keys reach players and proxies: SigV4, playback tokens, secure links, access policies. */
export interface DeliveryConfig {
  sigv4?: SigV4Config;
  tokenSigningKeys?: TokenSigningKey[];
  tokenMaxTtlSeconds: number;
  secureLinks?: SecureLinkConfig;
  /** Express `trust proxy`: false, a hop count, or trusted addresses. */
  trustedProxies: false | number | string[];
  globalRules: AccessRules;
}

type Env = Record<string, string | undefined>;
/** Throws the caller's ConfigError for a variable (kept as a callback so this module does not import config.ts). */
export type Fail = (variable: string, message: string) => never;

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function parsed<T>(env: Env, name: string, fail: Fail, parse: (raw: string) => T): T | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (err) {
    return fail(name, (err as Error).message);
  }
}

function sigv4(env: Env, fail: Fail): SigV4Config | undefined {
  const credentials = parsed(env, 'KEYPLANE_SIGV4_CREDENTIALS', fail, (raw) => parseSigV4Credentials(raw));
  const credentialsFile = parsed(env, 'KEYPLANE_SIGV4_CREDENTIALS_FILE', fail, (file) => {
    parseSigV4Credentials(readSecretFile(file), true);
    return file;
  });
  if (credentials && credentialsFile) {
    fail('KEYPLANE_SIGV4_CREDENTIALS_FILE', 'set either KEYPLANE_SIGV4_CREDENTIALS or KEYPLANE_SIGV4_CREDENTIALS_FILE');
  }
  if (!credentials && !credentialsFile) return undefined;
  const scopePart = (name: string, fallback: string) => {
    const v = value(env, name) ?? fallback;
    return /^[a-z0-9-]{1,64}$/.test(v) ? v : fail(name, `must be lower-case letters, digits and -, got "${v}"`);
  };
  return {
    ...(credentials ? { credentials } : { credentialsFile }),
    service: scopePart('KEYPLANE_SIGV4_SERVICE', 'execute-api'),
    region: scopePart('KEYPLANE_SIGV4_REGION', 'us-east-1'),
  };
}

/** The shortest secure-link secret accepted, whatever the algorithm. */
export const MIN_SECURE_LINK_SECRET = 16;

function secureLinks(env: Env, fail: Fail): SecureLinkConfig | undefined {
  const clientId = value(env, 'KEYPLANE_SECURE_TOKEN_CLIENT_ID');
  const secret = value(env, 'KEYPLANE_SECURE_TOKEN_SECRET');
  const algorithm = (value(env, 'KEYPLANE_SECURE_TOKEN_ALGORITHM') ?? 'hmac-sha256') as SecureTokenAlgorithm;
  if (!['md5', 'hmac-sha256'].includes(algorithm)) {
    fail('KEYPLANE_SECURE_TOKEN_ALGORITHM', `must be one of hmac-sha256, md5, got "${algorithm}"`);
  }
  if (clientId === undefined && secret === undefined) return undefined;
  if (clientId === undefined || !CLIENT_ID_PATTERN.test(clientId)) {
    fail('KEYPLANE_SECURE_TOKEN_CLIENT_ID', 'is required with a secret: 1-64 of A-Z a-z 0-9 . - (no "_")');
  }
  // 16 characters for md5 too (the README's promise): MD5 over a string holding the secret is easy to brute-force.
  if (secret === undefined || secret.length < MIN_SECURE_LINK_SECRET) {
    fail('KEYPLANE_SECURE_TOKEN_SECRET', `is required with a client id: at least ${MIN_SECURE_LINK_SECRET} characters`);
  }
  return { clientId, secret, algorithm };
}

function maxTtl(env: Env, fail: Fail): number {
  const name = 'KEYPLANE_TOKEN_MAX_TTL_SECONDS';
  const raw = value(env, name) ?? '86400';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 30 * 24 * 3600)
    fail(name, `must be an integer from 1 to 2592000, got "${raw}"`);
  return n;
}

/** Reads the delivery variables (`KEYPLANE_SIGV4_*`, `KEYPLANE_TOKEN_*`, `KEYPLANE_SECURE_TOKEN_*`, policies). */
export function loadDeliveryConfig(env: Env, fail: Fail): DeliveryConfig {
  const globalRules: AccessRules = {
    allowIps: parsed(env, 'KEYPLANE_DELIVERY_ALLOW_IPS', fail, parseIpList),
    denyIps: parsed(env, 'KEYPLANE_DELIVERY_DENY_IPS', fail, parseIpList),
    allowOrigins: parsed(env, 'KEYPLANE_DELIVERY_ALLOW_ORIGINS', fail, parseOriginList),
  };
  return {
    sigv4: sigv4(env, fail),
    tokenSigningKeys: parsed(env, 'KEYPLANE_TOKEN_SIGNING_KEYS', fail, parseTokenSigningKeys),
    tokenMaxTtlSeconds: maxTtl(env, fail),
    secureLinks: secureLinks(env, fail),
    trustedProxies: parsed(env, 'KEYPLANE_TRUSTED_PROXIES', fail, parseTrustedProxies) ?? false,
    globalRules,
  };
}

/** A start-up summary without secrets. */
export function describeDelivery(d: DeliveryConfig): Record<string, unknown> {
  return {
    sigv4: d.sigv4 ? `${d.sigv4.credentialsFile ?? 'from environment'} (${d.sigv4.region}/${d.sigv4.service})` : 'off',
    playbackTokens: d.tokenSigningKeys
      ? 'keys from KEYPLANE_TOKEN_SIGNING_KEYS'
      : 'token-keys.json in the data dir (SQLite); off with DynamoDB',
    secureLinks: d.secureLinks ? d.secureLinks.algorithm : 'off',
    trustedProxies: d.trustedProxies,
  };
}
