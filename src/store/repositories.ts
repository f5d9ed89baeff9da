/**
 * The repositories a Backend is made of: one small interface per concern, each method small and atomic.
 * Decisions (lease rules, key generation, authorization) live in the services, not here.
 */
import type { AuditPage, AuditQuery, AuditRecord } from '../audit/audit-record';
import type { ApiKeyRecord, IssueCommit, Lease, ResourcePolicy, StaticKeyRecord, StoredKey } from './records';

/** Sealed content keys, found by KID (a KID is global: it belongs to exactly one resource). */
export interface KeyRepository {
  /** Reads keys by KID (any resource); missing KIDs are absent from the map. */
  get(kids: string[]): Promise<Map<string, StoredKey>>;
}

/** Leases and SPEKE issuance: a lease is written together with the keys it brings, all or nothing. */
export interface LeaseRepository {
  /** Reads the current lease of a resource ID, expired or not. */
  get(resourceId: string): Promise<Lease | undefined>;
  /**
   * Writes the lease (conditional on `expectedLeaseVersion`) and inserts the new keys (conditional on
   * absence) and the ownership claim, all or nothing. Throws LeaseRaceError / KeyRaceError /
   * ResourceRaceError.
   */
  commitIssue(commit: IssueCommit): Promise<void>;
  /**
   * Deletes a lease, only while `owner` holds it when given (the holder releasing its own lease, which
   * must never remove a lease another process took meanwhile); returns whether one was deleted.
   */
  delete(resourceId: string, owner?: string): Promise<boolean>;
}

/** HLS AES-128 static-key registrations, one per resource ID. */
export interface StaticKeyRepository {
  /** Reads the static key registration for a resource ID. */
  get(resourceId: string): Promise<StaticKeyRecord | undefined>;
  /**
   * Writes a static key registration, its key and the resource's owner (kind `static`, only if the
   * resource has none) atomically; throws StaticKeyExistsError, ResourceRaceError (or KeyRaceError).
   */
  put(record: StaticKeyRecord, key: StoredKey, tenant: string): Promise<void>;
}

/** API keys (only the hash of each secret), revoked ones included. */
export interface ApiKeyRepository {
  /** Stores a new API key record. */
  put(record: ApiKeyRecord): Promise<void>;
  /** Reads an API key by id (revoked ones included). */
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Lists API keys (revoked ones included), oldest first; only those of `tenant` when given. */
  list(filter?: { tenant?: string }): Promise<ApiKeyRecord[]>;
  /** Marks an API key revoked; returns whether it existed and was active. */
  revoke(id: string, at: Date): Promise<boolean>;
}

/** The audit trail of key issuance and delivery; never holds key material. */
export interface AuditRepository {
  /** Appends audit records (durably, like every other write). */
  append(records: readonly AuditRecord[]): Promise<void>;
  /**
   * One page of audit records in (time, id) order, for one resource or all. A backend built with an audit
   * retention never returns a record older than it, whether or not the record has been deleted yet.
   */
  query(query: AuditQuery): Promise<AuditPage>;
}

/** Per-resource access policies (IP and origin rules on top of the global ones). */
export interface PolicyRepository {
  /** Reads the policy of a resource, if it has one. */
  get(resourceId: string): Promise<ResourcePolicy | undefined>;
  /** Writes (replaces) the policy of a resource. */
  put(policy: ResourcePolicy): Promise<void>;
  /** Deletes the policy of a resource; returns whether one existed. */
  delete(resourceId: string): Promise<boolean>;
}
