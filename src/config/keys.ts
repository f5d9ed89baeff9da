import { integer, optional, type Env } from './env';

/** How content keys are sealed and leased (`KEYPLANE_KMS_KEY_ID`, `KEYPLANE_LEASE_TTL_SECONDS`). */
export interface KeysConfig {
  leaseTtlSeconds: number;
  /** Absent: the local master key in the data dir seals keys. */
  kmsKeyId?: string;
}

/** Reads the key-sealing and lease variables. */
export function loadKeysConfig(env: Env): KeysConfig {
  return {
    leaseTtlSeconds: integer(env, 'KEYPLANE_LEASE_TTL_SECONDS', 600, 1, 7 * 24 * 3600),
    kmsKeyId: optional(env, 'KEYPLANE_KMS_KEY_ID'),
  };
}
