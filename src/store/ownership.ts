/**
 * Resource ownership and tenants as the store sees them: who owns each resource ID, the claim a write
 * makes on it, and the tenants the store knows. Kept apart from `records.ts` and `repositories.ts` so
 * the tenant rules stay in one place; the decisions (who may claim, who is refused) live in the services.
 */

/** How a resource got its keys: SPEKE issuance or the static-key API. */
export type ResourceKind = 'speke' | 'static';

/** The tenant a resource ID belongs to: the one that first created keys for it. */
export interface ResourceOwner {
  resourceId: string;
  tenant: string;
  kind: ResourceKind;
  createdAt: Date;
}

/**
 * The ownership a write makes or relies on, checked in the same atomic write as the keys it brings:
 * `absent` inserts the owner record only if none exists; `present` checks the stored owner is still
 * `tenant` with `kind`. Either failing is a ResourceRaceError.
 */
export interface ResourceClaim {
  tenant: string;
  kind: ResourceKind;
  expected: 'absent' | 'present';
}

/** A tenant the store knows (from API keys or resources), with how many of each it has. */
export interface TenantSummary {
  tenant: string;
  /** API keys of the tenant, revoked ones included. */
  apiKeys: number;
  /** Resource IDs the tenant owns. */
  resources: number;
}

/** The owner of a resource changed between read and write: another tenant (or kind) won. Retry from the read. */
export class ResourceRaceError extends Error {
  constructor(readonly resourceId: string) {
    super(`Owner of ${resourceId} changed concurrently`);
    this.name = 'ResourceRaceError';
  }
}

/** Resource ownership records, written only together with keys (see ResourceClaim). */
export interface ResourceRepository {
  /** Reads the owner of a resource ID. */
  get(resourceId: string): Promise<ResourceOwner | undefined>;
}

/** The tenants the store knows. */
export interface TenantRepository {
  /** Every tenant with an API key or a resource, by tenant ID. */
  list(): Promise<TenantSummary[]>;
}
