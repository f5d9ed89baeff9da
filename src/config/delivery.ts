import { parseIpList, parseOriginList, parseTrustedProxies } from '../auth/access-policy';
import { parseSigV4Credentials, type SigV4Credential } from '../auth/sigv4-credentials';
import { CLIENT_ID_PATTERN, type SecureLinkConfig, type SecureTokenAlgorithm } from '../auth/secure-token';
import { parseTokenSigningKeys, type TokenSigningKey } from '../auth/token-keys';
import type { AccessRules } from '../store/records';
import { boundedInteger, fail, optional, parsed, type Env } from './env';
import { readSecretFile } from '../util/secret-file';
import { describeEdgeAuth, loadEdgeAuthConfig, loadTokenCookie, type EdgeAuthConfig } from './edgeauth';

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
  /** Akamai EdgeAuth tokens (`KEYPLANE_EDGEAUTH_*`); absent: off. */
  edgeAuth?: EdgeAuthConfig;
  /** The cookie a playback token may travel in (`KEYPLANE_TOKEN_COOKIE`). */
  tokenCookie: string;
}

function sigv4(env: Env): SigV4Config | undefined {
  const credentials = parsed(env, 'KEYPLANE_SIGV4_CREDENTIALS', (raw) => parseSigV4Credentials(raw));
  const credentialsFile = parsed(env, 'KEYPLANE_SIGV4_CREDENTIALS_FILE', (file) => {
    parseSigV4Credentials(readSecretFile(file), true);
    return file;
  });
  if (credentials && credentialsFile) {
    fail('KEYPLANE_SIGV4_CREDENTIALS_FILE', 'set either KEYPLANE_SIGV4_CREDENTIALS or KEYPLANE_SIGV4_CREDENTIALS_FILE');
  }
  if (!credentials && !credentialsFile) return undefined;
  const scopePart = (name: string, fallback: string) => {
    const v = optional(env, name) ?? fallback;
    return /^[a-z0-9-]{1,64}$/.test(v) ? v : fail(name, `must be lower-case letters, digits and -, got "${v}"`);
  };
  return {
    ...(credentials ? { credentials } : { credentialsFile }),
    service: scopePart('KEYPLANE_SIGV4_SERVICE', 'execute-api'),
    region: scopePart('KEYPLANE_SIGV4_REGION', 'us-east-1'),
  };
}

/** The shortest secure-link secret accepted, whatever the algorithm. */
const MIN_SECURE_LINK_SECRET = 16;

function secureLinks(env: Env): SecureLinkConfig | undefined {
  const clientId = optional(env, 'KEYPLANE_SECURE_TOKEN_CLIENT_ID');
  const secret = optional(env, 'KEYPLANE_SECURE_TOKEN_SECRET');
  const algorithm = (optional(env, 'KEYPLANE_SECURE_TOKEN_ALGORITHM') ?? 'hmac-sha256') as SecureTokenAlgorithm;
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

/** Reads the delivery variables (`KEYPLANE_SIGV4_*`, `KEYPLANE_TOKEN_*`, `KEYPLANE_SECURE_TOKEN_*`, policies). */
export function loadDeliveryConfig(env: Env): DeliveryConfig {
  const globalRules: AccessRules = {
    allowIps: parsed(env, 'KEYPLANE_DELIVERY_ALLOW_IPS', parseIpList),
    denyIps: parsed(env, 'KEYPLANE_DELIVERY_DENY_IPS', parseIpList),
    allowOrigins: parsed(env, 'KEYPLANE_DELIVERY_ALLOW_ORIGINS', parseOriginList),
  };
  return {
    sigv4: sigv4(env),
    tokenSigningKeys: parsed(env, 'KEYPLANE_TOKEN_SIGNING_KEYS', parseTokenSigningKeys),
    tokenMaxTtlSeconds: boundedInteger(env, 'KEYPLANE_TOKEN_MAX_TTL_SECONDS', 86400, 1, 30 * 24 * 3600),
    secureLinks: secureLinks(env),
    trustedProxies: parsed(env, 'KEYPLANE_TRUSTED_PROXIES', parseTrustedProxies) ?? false,
    globalRules,
    edgeAuth: loadEdgeAuthConfig(env, loadTokenCookie(env)),
    tokenCookie: loadTokenCookie(env),
  };
}

/** A start-up summary without secrets. */
export function describeDelivery(d: DeliveryConfig): Record<string, unknown> {
  return {
    sigv4: d.sigv4 ? `${d.sigv4.credentialsFile ?? 'from environment'} (${d.sigv4.region}/${d.sigv4.service})` : 'off',
    playbackTokens: d.tokenSigningKeys
      ? 'keys from KEYPLANE_TOKEN_SIGNING_KEYS'
      : 'token-keys.json in the data dir (SQLite); off with DynamoDB and PostgreSQL',
    secureLinks: d.secureLinks ? d.secureLinks.algorithm : 'off',
    trustedProxies: d.trustedProxies,
    edgeAuth: describeEdgeAuth(d.edgeAuth),
    tokenCookie: d.tokenCookie,
  };
}
