/**
 * Bulk access to every record of a store, for `keyplane migrate`, `keyplane import` and `export --all`:
 * a paginated scan over all records (bounded memory, resumable from an opaque cursor) and an
 * insert-if-absent that never overwrites. Kept apart from `repositories.ts` so the request-path
 * repositories stay small; a backend without it cannot be a migration source or target.
 */
import type { AuditRecord } from '../audit/audit-record';
import type { ResourceOwner } from './ownership';
import type { ApiKeyRecord, Lease, ResourcePolicy, StaticKeyRecord, StoredKey } from './records';
import type { RevocationRecord } from './revocations';

/** One record of any kind, tagged with its kind. */
export type TransferRecord =
  | { kind: 'resource'; record: ResourceOwner }
  | { kind: 'key'; record: StoredKey }
  | { kind: 'staticKey'; record: StaticKeyRecord }
  | { kind: 'lease'; record: Lease }
  | { kind: 'apiKey'; record: ApiKeyRecord }
  | { kind: 'policy'; record: ResourcePolicy }
  | { kind: 'revocation'; record: RevocationRecord }
  | { kind: 'audit'; record: AuditRecord };

/** The kinds of record a store holds (tenants are derived from API keys and resources, not stored apart). */
export type TransferKind = TransferRecord['kind'];

/** Every kind, in the order the SQLite scan visits them (owners before the keys they own). */
export const TRANSFER_KINDS: readonly TransferKind[] = [
  'resource',
  'key',
  'staticKey',
  'lease',
  'apiKey',
  'policy',
  'revocation',
  'audit',
];

/** One page of a scan: records, and the cursor of the next page (absent: the scan is complete). */
export interface TransferPage {
  records: TransferRecord[];
  next?: string;
}

/**
 * The identity of a record within its kind: what `find` looks it up by and what makes two records the
 * same one. Audit records are identified by time and id (a DynamoDB audit item is found by both).
 */
export function identityOf(r: TransferRecord): string {
  switch (r.kind) {
    case 'key':
      return r.record.kid;
    case 'apiKey':
      return r.record.id;
    case 'revocation':
      return `${r.record.jti}\u0000${r.record.tenant ?? ''}`;
    case 'audit':
      return `${r.record.time.toISOString()}#${r.record.id}`;
    default:
      return r.record.resourceId;
  }
}

/** Splits an audit identity (`<ISO time>#<id>`) back into its parts. */
export function auditIdentity(identity: string): { time: Date; id: string } {
  const at = identity.indexOf('#');
  return { time: new Date(identity.slice(0, at)), id: identity.slice(at + 1) };
}

/** Splits a revocation identity back into jti and tenant (`''`: none). */
export function revocationIdentity(identity: string): { jti: string; tenant: string } {
  const at = identity.indexOf('\u0000');
  return { jti: identity.slice(0, at), tenant: identity.slice(at + 1) };
}

/** Scan, find and insert-if-absent over every record of a store. */
export interface TransferRepository {
  /** One page of at most `limit` records after `cursor` (undefined: from the start), in a stable order. */
  scan(cursor: string | undefined, limit: number): Promise<TransferPage>;
  /** The record of `kind` with this identity (see identityOf), if any. */
  find(kind: TransferKind, identity: string): Promise<TransferRecord | undefined>;
  /**
   * Writes the record only if none with its identity exists, durably. Returns undefined when written,
   * else the existing record (nothing written: the caller decides whether it is the same or a conflict).
   */
  insert(record: TransferRecord): Promise<TransferRecord | undefined>;
  /**
   * True when `keysOf` reads the whole store (no index by resource, as on DynamoDB): exports of many
   * resources then gather keys from one scan instead. Absent or false: `keysOf` is an indexed read.
   */
  readonly keysOfScansAll?: boolean;
  /** Every key bound to a resource ID, oldest first (export); at most `limit`. */
  keysOf(resourceId: string, limit: number): Promise<StoredKey[]>;
}
