import type { ResourceClaim } from './ownership';

/**
 * What Keyplane persists: the records every backend (SQLite, DynamoDB) stores and the race errors its
 * conditional writes report. Key material is always sealed by an EnvelopeCipher before it reaches a store.
 */
/** A content key as stored: key and IV sealed, bound to (resourceId, kid). */
export interface StoredKey {
  kid: string;
  resourceId: string;
  /** Sealed 16-byte content key followed by the 16-byte IV (one sealed blob). */
  sealed: Buffer;
  /** Where it came from: a SPEKE request or the static-key API. */
  origin: 'speke' | 'static';
  createdAt: Date;
}

/** The lease that binds a resource ID to one encryption process. */
export interface Lease {
  resourceId: string;
  /** Caller identity (API key id, IAM principal ARN, ...). */
  owner: string;
  /** KIDs the process has used so far. */
  kids: string[];
  /** Whether the process rotates keys (ContentKeyPeriods); then new KIDs are allowed. */
  rotating: boolean;
  expiresAt: Date;
  /** Optimistic-concurrency version; incremented on every write. */
  version: number;
}

/** A static HLS AES-128 key registration for a resource ID. */
export interface StaticKeyRecord {
  resourceId: string;
  kid: string;
  createdAt: Date;
}

/** An API key as stored: only the SHA-256 of its secret. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  roles: string[];
  secretHash: Buffer;
  createdAt: Date;
  revokedAt?: Date;
  /** The tenant the key acts for; `*` administers all. Records from before tenants read as `default` (admin: `*`). */
  tenant: string;
}

/** Everything a SPEKE request writes, committed atomically. */
export interface IssueCommit {
  lease: Lease;
  /** Version of the lease that was read, or `undefined` when there was none. */
  expectedLeaseVersion: number | undefined;
  /** Keys that did not exist when read; each is written only if still absent. */
  newKeys: StoredKey[];
  /** The resource's ownership, claimed (or checked) in the same atomic write. */
  claim: ResourceClaim;
}

/** The lease changed between read and write: another request won the race. Retry from the read. */
export class LeaseRaceError extends Error {
  constructor(
    readonly resourceId: string,
    readonly existing?: Lease,
  ) {
    super(`Lease for ${resourceId} changed concurrently`);
    this.name = 'LeaseRaceError';
  }
}

/** A key appeared between read and write. Retry from the read. */
export class KeyRaceError extends Error {
  constructor(readonly kid: string) {
    super(`Key ${kid} was written concurrently`);
    this.name = 'KeyRaceError';
  }
}

/** The static key for this resource already exists. Carries the existing record. */
export class StaticKeyExistsError extends Error {
  constructor(readonly existing: StaticKeyRecord) {
    super(`Static key for ${existing.resourceId} already exists`);
    this.name = 'StaticKeyExistsError';
  }
}

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
