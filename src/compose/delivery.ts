import { AccessPolicy } from '../auth/access-policy';
import { EdgeAuthVerifier } from '../auth/edgeauth-token';
import { PlaybackTokenService } from '../auth/playback-tokens';
import { ResourcePolicyService } from '../auth/resource-policies';
import { SecureLinkVerifier } from '../auth/secure-token';
import { TokenRevocations } from '../auth/token-revocation';
import { FileCredentialSource, staticCredentials, type SigV4CredentialSource } from '../auth/sigv4-credentials';
import { loadOrCreateTokenKeys, type TokenSigningKey } from '../auth/token-keys';
import type { Config } from '../config';
import type { HttpAuthenticator } from '../http/authenticate';
import { edgeAuthAuthenticator, playbackTokenAuthenticator } from '../http/authenticators';
import { sigv4Authenticator } from '../http/sigv4-adapter';
import type { KeyService } from '../keys/key-service';
import type { Backend } from '../store/backend';

/**
 * Everything the delivery features add to the app: the key service and access policy KeyDelivery
 * uses, the player credentials (tokens, secure links; absent when not configured), our public URL,
 * the policy service and proxy trust.
 */
export interface Delivery {
  keys: KeyService;
  policy: AccessPolicy;
  publicUrl: string;
  tokens?: PlaybackTokenService;
  /** Token revocation by jti (present with tokens): `DELETE /playback-tokens/{jti}`. */
  revocations?: TokenRevocations;
  secureLinks?: SecureLinkVerifier;
  /** The admin side of per-resource policies (`/resources/{resourceId}/policy`). */
  policies: ResourcePolicyService;
  trustProxy: false | number | string[];
  /** The cookie a playback token may travel in (`KEYPLANE_TOKEN_COOKIE`); on the path routes it is a second transport. */
  tokenCookie: string;
}

/**
 * Signing keys for playback tokens: configured ones, else (SQLite only) the data dir's
 * `token-keys.json`. With DynamoDB (Lambda, several instances) there is no shared data dir, so
 * tokens stay off until `KEYPLANE_TOKEN_SIGNING_KEYS` is set.
 */
function tokenKeys(config: Config): TokenSigningKey[] | undefined {
  if (config.delivery.tokenSigningKeys) return config.delivery.tokenSigningKeys;
  return config.store === 'sqlite' ? loadOrCreateTokenKeys(config.dataDir) : undefined;
}

function sigv4Source(config: Config): SigV4CredentialSource | undefined {
  const sigv4 = config.delivery.sigv4;
  if (!sigv4) return undefined;
  return sigv4.credentials
    ? staticCredentials(sigv4.credentials)
    : new FileCredentialSource(sigv4.credentialsFile ?? '');
}

/** Builds the delivery features from config: services, the extra authenticators (SigV4, playback tokens) and policies. */
export function buildDelivery(
  config: Config,
  store: Pick<Backend, 'policies' | 'revocations'>,
  keys: KeyService,
  now: () => Date = () => new Date(),
): { delivery: Delivery; authenticators: HttpAuthenticator[] } {
  const d = config.delivery;
  const keysForTokens = tokenKeys(config);
  const revocations = keysForTokens && new TokenRevocations(store.revocations, d.tokenMaxTtlSeconds, now);
  const tokens = keysForTokens && new PlaybackTokenService(keysForTokens, d.tokenMaxTtlSeconds, now, revocations);
  const policyStore = store.policies;
  const credentials = sigv4Source(config);
  const authenticators: HttpAuthenticator[] = [];
  // First, so an EdgeAuth token next to any other credential is a 401, not silently one of them.
  if (d.edgeAuth) {
    const verifier = new EdgeAuthVerifier(d.edgeAuth, now);
    authenticators.push(
      edgeAuthAuthenticator(verifier, { tokenName: d.edgeAuth.tokenName, tokenCookie: d.tokenCookie }),
    );
  }
  if (credentials && d.sigv4) {
    authenticators.push(
      sigv4Authenticator({
        credentials,
        service: d.sigv4.service,
        region: d.sigv4.region,
        now,
      }),
    );
  }
  if (tokens) authenticators.push(playbackTokenAuthenticator(tokens, d.tokenCookie));
  const delivery: Delivery = {
    keys,
    policy: new AccessPolicy(d.globalRules, policyStore),
    publicUrl: config.publicUrl,
    tokens,
    revocations,
    secureLinks: d.secureLinks && new SecureLinkVerifier(d.secureLinks, now),
    policies: new ResourcePolicyService(policyStore, now),
    trustProxy: d.trustedProxies,
    tokenCookie: d.tokenCookie,
  };
  return { delivery, authenticators };
}
