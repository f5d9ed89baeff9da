/**
 * Tenants: every credential belongs to exactly one, and every resource ID to the tenant that first
 * created keys for it. One pattern and one validator, so auth, store, audit and HTTP agree on what a
 * tenant ID is without importing one another.
 */
import { BadRequestError } from '../errors';

/** A tenant ID: 1–63 of `a–z 0–9 _ -`, starting with a letter or digit (safe in URLs, store keys, logs). */
const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The tenant of a credential that administers every tenant; never the owner of a resource. */
export const ALL_TENANTS = '*';

/** The tenant of everything created without one: single-user installs and data from before tenants. */
export const DEFAULT_TENANT = 'default';

/** Whether a value is a well-formed tenant ID (`*` is not one). */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID_PATTERN.test(value);
}

/**
 * Validates a tenant ID from a body, query or config; the 400 names the field and the rule. `allowAll`
 * also accepts `*`, for where a credential's tenant is set (only credentials may hold it).
 */
export function checkTenantId(value: unknown, field = 'tenant', opts: { allowAll?: boolean } = {}): string {
  if (opts.allowAll && value === ALL_TENANTS) return ALL_TENANTS;
  if (!isTenantId(value)) {
    const all = opts.allowAll ? ', or * for all tenants' : '';
    throw new BadRequestError(`${field} must be 1-63 characters of a-z 0-9 _ -, starting with a letter or digit${all}`);
  }
  return value;
}

/** Whether a caller of `principalTenant` may act on what `ownerTenant` owns. */
export function mayAct(principalTenant: string, ownerTenant: string): boolean {
  return principalTenant === ALL_TENANTS || principalTenant === ownerTenant;
}

/** The tenant a caller's new resources belong to: its own, or `default` for a `*` caller. */
export function claimingTenant(principalTenant: string): string {
  return principalTenant === ALL_TENANTS ? DEFAULT_TENANT : principalTenant;
}
