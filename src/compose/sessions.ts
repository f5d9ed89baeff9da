import { sessionSecretFromMasterKey, SessionIds } from '../auth/session-ids';
import type { Config } from '../config';
import type { SessionRouteDeps } from '../delivery/session-http';
import { loadOrCreateMasterKey } from '../keys/local-cipher';
import type { Backend } from '../store/backend';
import type { Delivery } from './delivery';
import { dataDirSealer } from './data-dir-sealer';

/**
 * The session secret: KEYPLANE_SESSION_SECRET, else (local master key deployments) one derived from
 * the master key, which every instance sharing the store already shares and which survives restarts.
 * With KMS there is no key material here to derive from: undefined, and the routes answer 501.
 */
function sessionSecret(config: Config): Buffer | undefined {
  if (config.sessions.secret) return config.sessions.secret;
  if (config.kmsKeyId) return undefined;
  return sessionSecretFromMasterKey(loadOrCreateMasterKey(config.dataDir, dataDirSealer(config.dataDir)));
}

/** Session-level encryption's deps; without an origin (`KEYPLANE_ORIGIN_URL`) its routes answer 501. */
export function buildSessions(
  config: Config,
  delivery: Delivery,
  store: Pick<Backend, 'resources'>,
  now?: () => Date,
): SessionRouteDeps {
  const secret = config.origin ? sessionSecret(config) : undefined;
  return {
    ...(secret ? { ids: new SessionIds(secret, config.sessions.ttlSeconds, now) } : {}),
    policy: delivery.policy,
    owners: store.resources,
    publicUrl: config.publicUrl,
    ...(config.origin ? { origin: config.origin } : {}),
    bindClientIp: config.sessions.bindClientIp,
    segmentMaxBytes: config.sessions.segmentMaxBytes,
    segmentTimeoutMs: config.sessions.segmentTimeoutMs,
  };
}
