/**
 * What Keyplane persists, and the hooks each backend (SQLite, DynamoDB) implements.
 * Key material is always sealed by an EnvelopeCipher before it reaches a store.
 */
import type { AuditPage, AuditQuery, AuditRecord } from '../audit/audit-record';

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
}

/** Everything a SPEKE request writes, committed atomically. */
export interface IssueCommit {
  lease: Lease;
  /** Version of the lease that was read, or `undefined` when there was none. */
  expectedLeaseVersion: number | undefined;
  /** Keys that did not exist when read; each is written only if still absent. */
  newKeys: StoredKey[];
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

/**
 * The persistence port. Backends keep each method small and atomic; decisions (lease
 * rules, key generation) live in the key service, not here.
 */
export interface KeyStore {
  /** Backend name for health output. */
  readonly name: string;
  /** Reads the current lease of a resource ID, expired or not. */
  getLease(resourceId: string): Promise<Lease | undefined>;
  /** Reads keys by KID (any resource); missing KIDs are absent from the map. */
  getKeys(kids: string[]): Promise<Map<string, StoredKey>>;
  /**
   * Writes the lease (conditional on `expectedLeaseVersion`) and inserts the new keys
   * (conditional on absence), all or nothing. Throws LeaseRaceError / KeyRaceError.
   */
  commitIssue(commit: IssueCommit): Promise<void>;
  /** Deletes a lease; returns whether one existed. */
  deleteLease(resourceId: string): Promise<boolean>;

  /** Reads the static key registration for a resource ID. */
  getStaticKey(resourceId: string): Promise<StaticKeyRecord | undefined>;
  /** Writes a static key registration and its key atomically; throws StaticKeyExistsError. */
  putStaticKey(record: StaticKeyRecord, key: StoredKey): Promise<void>;

  /** Stores a new API key record. */
  putApiKey(record: ApiKeyRecord): Promise<void>;
  /** Reads an API key by id (revoked ones included). */
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Lists API keys (revoked ones included). */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Marks an API key revoked; returns whether it existed and was active. */
  revokeApiKey(id: string, at: Date): Promise<boolean>;

  /** Appends audit records (durably, like every other write); never holds key material. */
  appendAudit(records: readonly AuditRecord[]): Promise<void>;
  /**
   * One page of audit records in (time, id) order, for one resource or all. A store built with an audit
   * retention never returns a record older than it, whether or not the record has been deleted yet.
   */
  queryAudit(query: AuditQuery): Promise<AuditPage>;

  /** Throws ServiceUnavailableError when the backend cannot serve. */
  ping(): Promise<void>;
  /** Releases connections/handles. */
  close(): Promise<void>;
}
