/**
 * Playback-token revocations: kept apart from `records.ts`/`repositories.ts` so the tenant work and
 * this one merge without touching the same lines.
 */

/** A revoked playback token, by `jti`, as the store keeps it until the token could no longer verify. */
export interface RevocationRecord {
  /** The token's `jti`. */
  jti: string;
  /**
   * The revoker's tenant: the revocation applies to tokens of this tenant only (their `ten` claim,
   * `default` when absent); `*` (or absent, before tenants) applies to every tenant.
   */
  tenant?: string;
  /** Who revoked it (principal id: API key id, IAM ARN). */
  revokedBy: string;
  revokedAt: Date;
  /** After this, no token with this `jti` can verify (now + the maximum token TTL): the record may go. */
  expiresAt: Date;
}

/** Revoked playback tokens, read on every token verification (one read), written by `DELETE /playback-tokens/{jti}`. */
export interface RevocationRepository {
  /** Records a revocation; revoking again (same jti and tenant) keeps the first record. */
  put(record: RevocationRecord): Promise<void>;
  /** Every revocation of a `jti` not yet past its `expiresAt`, one read. */
  get(jti: string): Promise<RevocationRecord[]>;
}
