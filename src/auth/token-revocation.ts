import { BadRequestError } from '../errors';
import { TokenRevokedError } from './token-errors';
import { UUID_PATTERN } from '../domain/ids';
import type { RevocationRecord, RevocationRepository } from '../store/revocations';
import type { Principal } from './principal';

/** The tenant a token belongs to when it carries no `ten` claim (tokens minted before tenants). */
const DEFAULT_TOKEN_TENANT = 'default';
/** A revoker in this tenant revokes tokens of every tenant. */
export const ALL_TENANTS = '*';

/** Whether a stored revocation applies to a token of `tokenTenant` (same tenant, or revoked by `*` / before tenants). */
function revocationApplies(record: RevocationRecord, tokenTenant: string): boolean {
  return record.tenant === undefined || record.tenant === ALL_TENANTS || record.tenant === tokenTenant;
}

/** A token's tenant: its `ten` claim, `default` when absent. */
export function tokenTenantOf(claims: Record<string, unknown>): string {
  return typeof claims.ten === 'string' && claims.ten !== '' ? claims.ten : DEFAULT_TOKEN_TENANT;
}

/** Checks a `jti` from a request path: the jtis Keyplane mints are UUIDs (lower-cased here). */
export function checkJti(value: unknown): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    throw new BadRequestError('jti must be a playback token ID (a UUID, the token’s jti claim)');
  }
  return value.toLowerCase();
}

/** The tenant of a principal, once principals carry one (w2-tenants-core adds `Principal.tenant`). */
function tenantOf(principal: Principal): string | undefined {
  const tenant = (principal as Principal & { tenant?: unknown }).tenant;
  return typeof tenant === 'string' ? tenant : undefined;
}

/**
 * Token revocation by `jti`: `revoke` records who revoked it until the latest moment any token could
 * still verify (now + the maximum token TTL); `check` is the one read each verification makes.
 */
export class TokenRevocations {
  constructor(
    private readonly store: RevocationRepository,
    private readonly maxTtlSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Revokes a token by `jti` for the revoker's tenant (every tenant for `*`); idempotent. */
  async revoke(jti: string, by: Principal): Promise<RevocationRecord> {
    const now = this.now();
    const tenant = tenantOf(by);
    const record: RevocationRecord = {
      jti: checkJti(jti),
      ...(tenant === undefined ? {} : { tenant }),
      revokedBy: by.id,
      revokedAt: now,
      // A token may be issued up to MAX_CLOCK_SKEW_SECONDS ahead; a minute more covers it.
      expiresAt: new Date(now.getTime() + (this.maxTtlSeconds + 60) * 1000),
    };
    await this.store.put(record);
    return record;
  }

  /** Throws TokenRevokedError when the token with this `jti` and tenant is revoked (one store read). */
  async check(jti: string, tokenTenant: string): Promise<void> {
    const records = await this.store.get(jti.toLowerCase());
    if (records.some((r) => revocationApplies(r, tokenTenant))) throw new TokenRevokedError(jti.toLowerCase());
  }
}
