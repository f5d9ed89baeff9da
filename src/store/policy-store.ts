import type { KeyStore } from './key-store';

/** Who may fetch keys: client addresses (IP or CIDR) and player origins. Empty or absent lists do not restrict. */
export interface AccessRules {
  allowIps?: string[];
  denyIps?: string[];
  allowOrigins?: string[];
}

/** The rules of one resource, applied on top of the global ones. */
export interface ResourcePolicy extends AccessRules {
  resourceId: string;
  updatedAt: Date;
}

/** Optional persistence for per-resource policies; backends that have it expose it as `policies`. */
export interface PolicyStore {
  getPolicy(resourceId: string): Promise<ResourcePolicy | undefined>;
  putPolicy(policy: ResourcePolicy): Promise<void>;
  /** Returns whether a policy existed. */
  deletePolicy(resourceId: string): Promise<boolean>;
}

/** The store's policy store when its backend has one (SQLite and DynamoDB do), else undefined. */
export function policyStoreOf(store: KeyStore): PolicyStore | undefined {
  const candidate = (store as KeyStore & { policies?: PolicyStore }).policies;
  return candidate && typeof candidate.getPolicy === 'function' ? candidate : undefined;
}
