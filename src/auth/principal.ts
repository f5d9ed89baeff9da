/** Roles a caller can hold. `admin` implies every other role. */
export const ROLES = ['admin', 'encoder', 'keyserver', 'token-issuer'] as const;

/** A role name. */
export type Role = (typeof ROLES)[number];

/** Who is calling, after authentication. `id` is also the lease owner for SPEKE. */
export interface Principal {
  id: string;
  roles: ReadonlySet<Role>;
  /** How the caller authenticated. */
  via: 'api-key' | 'admin-key' | 'iam' | 'sigv4' | 'token' | 'widevine-signer' | 'edgeauth';
  /** The tenant the caller acts for; `*` (ALL_TENANTS) administers every tenant. */
  tenant: string;
  /** For playback tokens: the only resource the caller may read. */
  resourceId?: string;
  /** For playback tokens: the KIDs the caller may read (all when absent). */
  kids?: ReadonlySet<string>;
}

/** Whether the principal may act in `role`. */
export function hasRole(principal: Principal, role: Role): boolean {
  return principal.roles.has('admin') || principal.roles.has(role);
}

/** Type guard for role names coming from requests. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
