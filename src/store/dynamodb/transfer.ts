import { GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../aws-errors';
import type { StoredKey } from '../records';
import {
  auditIdentity,
  identityOf,
  revocationIdentity,
  type TransferKind,
  type TransferPage,
  type TransferRecord,
  type TransferRepository,
} from '../transfer';
import { apiKeyItem, toApiKey } from './api-keys';
import { DynamoAuditRepository, fromItem as toAudit } from './audit';
import { itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';
import { toStoredKey } from './keys';
import { toLease } from './leases';
import { migrateTenants } from './migrate-tenants';
import { fromItem as toPolicy, policyItem } from './policies';
import { putOwner, registerTenant, TENANT_LAYOUT, toOwner } from './resources';
import { toRecord as toRevocation } from './revocations';
import { toStaticKey } from './static-keys';

/** Lease items keep `ttl` this long after expiry, as DynamoLeaseRepository writes them by default. */
const LEASE_TTL_MARGIN_SECONDS = 24 * 3600;
const REVOKED_PREFIX = 'REVOKED#';

/** Each kind's primary item: partition prefix (or whole partition) and how to read it. */
const READERS: Array<[TransferKind, (pk: string) => boolean, (item: Item) => TransferRecord['record']]> = [
  ['resource', (pk) => pk.startsWith(TENANT_LAYOUT.owner.prefix), toOwner],
  ['key', (pk) => pk.startsWith(LAYOUT.key.prefix), toStoredKey],
  ['staticKey', (pk) => pk.startsWith(LAYOUT.static.prefix), toStaticKey],
  ['lease', (pk) => pk.startsWith(LAYOUT.lease.prefix), toLease],
  ['apiKey', (pk) => pk === LAYOUT.apiKeyPartition, toApiKey],
  ['policy', (pk) => pk.startsWith(LAYOUT.policy.prefix), toPolicy],
  ['revocation', (pk) => pk.startsWith(REVOKED_PREFIX), toRevocation],
  // Every audit record has exactly one item in its day's partition (and copies elsewhere).
  ['audit', (pk) => pk.startsWith(LAYOUT.audit.dayPrefix), toAudit],
];

function classify(item: Item): TransferRecord | undefined {
  const pk = item.pk?.S ?? '';
  const reader = READERS.find(([, matches]) => matches(pk));
  return reader && ({ kind: reader[0], record: reader[2](item) } as TransferRecord);
}

/** The primary key of a record's item, from its kind and identity. */
function keyOf(kind: TransferKind, identity: string): Item {
  switch (kind) {
    case 'resource':
      return itemKey(TENANT_LAYOUT.owner.prefix + identity, TENANT_LAYOUT.owner.sort);
    case 'key':
      return itemKey(LAYOUT.key.prefix + identity, LAYOUT.key.sort);
    case 'staticKey':
      return itemKey(LAYOUT.static.prefix + identity, LAYOUT.static.sort);
    case 'lease':
      return itemKey(LAYOUT.lease.prefix + identity, LAYOUT.lease.sort);
    case 'apiKey':
      return itemKey(LAYOUT.apiKeyPartition, identity);
    case 'policy':
      return itemKey(LAYOUT.policy.prefix + identity, LAYOUT.policy.sort);
    case 'revocation': {
      const { jti, tenant } = revocationIdentity(identity);
      return itemKey(REVOKED_PREFIX + jti, tenant === '' ? '-' : tenant);
    }
    case 'audit': {
      const { time } = auditIdentity(identity);
      return itemKey(LAYOUT.audit.dayPrefix + time.toISOString().slice(0, 10), identity);
    }
  }
}

/** The item a record is stored as (resources and audit records are written by their own code). */
function itemOf(r: TransferRecord): Item | undefined {
  switch (r.kind) {
    case 'key': {
      const { createdAt, ...rest } = r.record;
      return { ...keyOf('key', r.record.kid), ...toItem({ ...rest, createdAt: createdAt.getTime() }) };
    }
    case 'staticKey':
      return {
        ...keyOf('staticKey', r.record.resourceId),
        ...toItem({ ...r.record, createdAt: r.record.createdAt.getTime() }),
      };
    case 'lease': {
      const expiresAt = r.record.expiresAt.getTime();
      const ttl = Math.ceil(expiresAt / 1000) + LEASE_TTL_MARGIN_SECONDS;
      return { ...keyOf('lease', r.record.resourceId), ...toItem({ ...r.record, expiresAt, ttl }) };
    }
    case 'apiKey':
      return apiKeyItem(r.record);
    case 'policy':
      return policyItem(r.record);
    case 'revocation': {
      const { jti, revokedBy, revokedAt, expiresAt } = r.record;
      const values = { jti, revokedBy, revokedAt: revokedAt.getTime(), expiresAt: expiresAt.getTime() };
      return {
        ...keyOf('revocation', `${jti}\u0000${r.record.tenant ?? ''}`),
        ...toItem({ ...values, ttl: Math.ceil(values.expiresAt / 1000) }),
      };
    }
    default:
      return undefined;
  }
}

/**
 * Scan, find and insert-if-absent over the whole table: the scan is one paginated Scan (cursor
 * `dynamodb:<LastEvaluatedKey JSON>`), keeping only each record's primary item; inserts are conditional
 * puts (owners with their member item, audit records with all their copies).
 */
export class DynamoTransferRepository implements TransferRepository {
  private migrated?: Promise<unknown>;
  /** Keys are stored by KID alone: `keysOf` is a filtered scan of the table. */
  readonly keysOfScansAll = true;

  constructor(
    private readonly table: DynamoTable,
    /** Copied audit records get the target's `ttl`, as records it writes itself do. */
    private readonly auditRetentionDays?: number,
  ) {}

  async scan(cursor: string | undefined, limit: number): Promise<TransferPage> {
    if (cursor !== undefined && !cursor.startsWith('dynamodb:'))
      throw new Error(`Not a DynamoDB scan cursor: ${cursor}`);
    const startKey = cursor === undefined ? undefined : (JSON.parse(cursor.slice('dynamodb:'.length)) as Item);
    const res = await this.table.client.send(
      new ScanCommand({ TableName: this.table.name, ConsistentRead: true, Limit: limit, ExclusiveStartKey: startKey }),
    );
    const records = (res.Items ?? []).map(classify).filter((r): r is TransferRecord => r !== undefined);
    return res.LastEvaluatedKey ? { records, next: `dynamodb:${JSON.stringify(res.LastEvaluatedKey)}` } : { records };
  }

  async find(kind: TransferKind, identity: string): Promise<TransferRecord | undefined> {
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: keyOf(kind, identity), ConsistentRead: true }),
    );
    return res.Item && classify(res.Item);
  }

  async keysOf(resourceId: string, limit: number): Promise<StoredKey[]> {
    const keys: StoredKey[] = [];
    let startKey: Item | undefined;
    do {
      const res = await this.table.client.send(
        new ScanCommand({
          TableName: this.table.name,
          ConsistentRead: true,
          FilterExpression: 'begins_with(pk, :k) AND resourceId = :r',
          ExpressionAttributeValues: toItem({ ':k': LAYOUT.key.prefix, ':r': resourceId }),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of res.Items ?? []) keys.push(toStoredKey(item));
      startKey = res.LastEvaluatedKey;
    } while (startKey && keys.length < limit);
    return keys
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.kid < b.kid ? -1 : 1))
      .slice(0, limit);
  }

  async insert(record: TransferRecord): Promise<TransferRecord | undefined> {
    // Owners are copied, not derived: mark the table migrated first so no reader derives them meanwhile.
    this.migrated ??= migrateTenants(this.table);
    await this.migrated;
    if (record.kind === 'resource') {
      await registerTenant(this.table, record.record.tenant);
      const there = await putOwner(this.table, record.record);
      return there && { kind: 'resource', record: there };
    }
    if (record.kind === 'audit') {
      const existing = await this.find('audit', identityOf(record));
      if (existing) return existing;
      await new DynamoAuditRepository(this.table, undefined, this.auditRetentionDays).append([record.record]);
      return undefined;
    }
    if (record.kind === 'apiKey') await registerTenant(this.table, record.record.tenant);
    try {
      await this.table.client.send(
        new PutItemCommand({
          TableName: this.table.name,
          Item: itemOf(record),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return undefined;
    } catch (err) {
      if (awsErrorName(err) !== 'ConditionalCheckFailedException') throw err;
      return this.find(record.kind, identityOf(record));
    }
  }
}
