import type {
  ApiKeyRepository,
  AuditRepository,
  KeyRepository,
  LeaseRepository,
  PolicyRepository,
  StaticKeyRepository,
} from './repositories';
import type { RevocationRepository } from './revocations';
import type { ResourceRepository, TenantRepository } from './ownership';
import type { TransferRepository } from './transfer';

/**
 * The persistence port: where keys, leases, static keys, API keys, audit records and policies live.
 * Each backend (SQLite in `sqlite/`, DynamoDB in `dynamodb/`) builds one from small repositories; every
 * repository method reports an outage as ServiceUnavailableError (see `outage.ts`) and nothing else of
 * the backend's own errors leaks out.
 */
export interface Backend {
  /** Backend name for health output. */
  readonly name: string;
  /** Sealed content keys by KID. */
  readonly keys: KeyRepository;
  /** Leases, and the atomic commit of a lease with its new keys. */
  readonly leases: LeaseRepository;
  /** Static HLS AES-128 key registrations. */
  readonly staticKeys: StaticKeyRepository;
  /** API key records. */
  readonly apiKeys: ApiKeyRepository;
  /** The audit trail. */
  readonly audit: AuditRepository;
  /** Per-resource access policies. */
  readonly policies: PolicyRepository;
  /** Revoked playback tokens (by jti), shared by every instance on the backend. */
  readonly revocations: RevocationRepository;
  /** Which tenant owns each resource ID. */
  readonly resources: ResourceRepository;
  /** The tenants known from API keys and resources. */
  readonly tenants: TenantRepository;
  /**
   * Every record, scanned in pages and inserted without overwriting: `migrate`, `import`, `export --all`.
   * Optional so a backend can land before it has one; such a backend is refused as a migration end.
   */
  readonly transfer?: TransferRepository;
  /** Throws ServiceUnavailableError when the backend cannot serve. */
  ping(): Promise<void>;
  /** Releases connections/handles. */
  close(): Promise<void>;
}
