import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import { BatchWriteItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  actionOf,
  lowerBound,
  type AuditCursor,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
} from '../../audit/audit-record';
import { expiresAtSeconds } from '../../audit/audit-retention';
import { ServiceUnavailableError } from '../../errors';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AuditRepository } from '../repositories';
import { DEFAULT_TENANT } from '../../domain/tenants';
import { LAYOUT, toItem, type DynamoTable, type Item } from './items';

const TENANT_DAY_PREFIX = 'AUDITTDAY#';

/** A filter on `tenant` (records without one are `default`), for partitions holding several tenants. */
interface TenantFilter {
  expression: string;
  values: Record<string, string>;
}

function tenantFilter(tenant: string | undefined): TenantFilter | undefined {
  if (tenant === undefined) return undefined;
  return tenant === DEFAULT_TENANT
    ? { expression: '(attribute_not_exists(tenant) OR tenant = :tenant)', values: { ':tenant': tenant } }
    : { expression: 'tenant = :tenant', values: { ':tenant': tenant } };
}
import { backoff, MAX_UNPROCESSED_RETRIES } from './transact';

/*
 * Audit items in Keyplane's table. Each record is written twice, so it can be read per resource and,
 * without a resource, per day:
 *
 *   by resource  pk = AUDIT#<resourceId>    sk = <ISO time>#<id>
 *   by day       pk = AUDITDAY#<yyyy-mm-dd> sk = <ISO time>#<id>     (UTC day of the record's time)
 *   by tenant    pk = AUDITTDAY#<tenant>#<yyyy-mm-dd>  sk = <ISO time>#<id>   (tenants other than `default`)
 *
 * Tenants: each item carries `tenant` S (absent on records from before tenants: `default`). A tenant's
 * records without a resource are read from its own day partitions, so a page reads only its records and
 * paginates exactly like the global walk; `default`'s are read from the global day partitions with a
 * filter (`tenant` absent or `default`), which also covers every record written before tenants without
 * a migration (the single-tenant case costs what it did). A resource's records are read from its
 * partition with the same filter (a resource has one owner, so it rarely drops anything).
 *
 * Attributes: id S, time N (epoch ms), resourceId S, action S, route S, outcome S, status N, and when
 * known kid S, principal S, reason S, clientIp S; with a retention, also ttl N (epoch *seconds*: the
 * record's time plus the retention, rounded up), the table's TTL attribute, so DynamoDB deletes expired
 * records. Its sweeper lags (up to days), so reads also skip records older than the retention (see
 * `withAuditRetention`, applied around this repository); the ttl never falls before that cutoff, so a
 * record disappears from reads before it can vanish from the table. Records written while retention was
 * `forever` carry no ttl and stay. ISO times sort as strings, so a Query on `sk >` a cursor reads a
 * partition in (time, id) order. A global page walks at most MAX_DAYS_PER_PAGE day
 * partitions; when it stops early its `next` cursor points at the next day (the page may be short).
 * All records of a day share one partition: past ~1000 writes/s (DynamoDB's per-partition limit)
 * the day key would need sharding.
 */

const MAX_BATCH_WRITE = 25;
const MAX_DAYS_PER_PAGE = 31;
const DAY_MS = 24 * 3600 * 1000;

const sortKey = (c: AuditCursor) => `${c.time.toISOString()}#${c.id}`;
const dayOf = (time: Date) => time.toISOString().slice(0, 10);
const startOfDay = (time: Date) => new Date(Math.floor(time.getTime() / DAY_MS) * DAY_MS);

function auditItem(r: AuditRecord, pk: string, retentionDays: number | undefined): Item {
  return toItem({
    pk,
    sk: sortKey(r),
    id: r.id,
    time: r.time.getTime(),
    resourceId: r.resourceId,
    action: r.action,
    route: r.route,
    outcome: r.outcome,
    status: r.status,
    kid: r.kid,
    principal: r.principal,
    reason: r.reason,
    clientIp: r.clientIp,
    tenant: r.tenant,
    ttl: retentionDays === undefined ? undefined : expiresAtSeconds(r.time, retentionDays),
  });
}

/** An audit item as an AuditRecord (also read by the transfer scan). */
export function fromItem(item: Item): AuditRecord {
  const values = unmarshall(item);
  const s = (key: string): string | undefined => (typeof values[key] === 'string' ? values[key] : undefined);
  const outcome = s('outcome');
  const record: AuditRecord = {
    id: s('id') ?? '',
    time: new Date(Number(values.time)),
    action: actionOf(s('action')),
    route: s('route') ?? '',
    resourceId: s('resourceId') ?? '',
    outcome: outcome === 'allowed' ? 'allowed' : outcome === 'failed' ? 'failed' : 'denied',
    status: Number(values.status),
  };
  for (const key of ['kid', 'principal', 'reason', 'clientIp'] as const) {
    const value = s(key);
    if (value !== undefined) record[key] = value;
  }
  const tenant = s('tenant');
  if (tenant !== undefined) record.tenant = tenant;
  return record;
}

/**
 * The audit trail in Keyplane's DynamoDB table (layout above). `retentionDays` absent: records are kept
 * forever (no ttl).
 */
export class DynamoAuditRepository implements AuditRepository {
  constructor(
    private readonly table: DynamoTable,
    private readonly now: () => Date = () => new Date(),
    private readonly retentionDays?: number,
  ) {}

  /** Writes both items of every record (BatchWriteItem, unprocessed items retried with backoff). */
  async append(records: readonly AuditRecord[]): Promise<void> {
    const requests: WriteRequest[] = records.flatMap((r) => {
      const pks = [`${LAYOUT.audit.resourcePrefix}${r.resourceId}`, `${LAYOUT.audit.dayPrefix}${dayOf(r.time)}`];
      if (r.tenant !== undefined && r.tenant !== DEFAULT_TENANT) {
        pks.push(`${TENANT_DAY_PREFIX}${r.tenant}#${dayOf(r.time)}`);
      }
      return pks.map((pk) => ({ PutRequest: { Item: auditItem(r, pk, this.retentionDays) } }));
    });
    for (let i = 0; i < requests.length; i += MAX_BATCH_WRITE) {
      await this.batchWrite(requests.slice(i, i + MAX_BATCH_WRITE));
    }
  }

  /**
   * One page in (time, id) order: one partition for a resource, else day partitions from the bound on.
   */
  async query(query: AuditQuery): Promise<AuditPage> {
    const bound = lowerBound(query);
    const filter = tenantFilter(query.tenant);
    if (query.resourceId !== undefined) {
      const pk = `${LAYOUT.audit.resourcePrefix}${query.resourceId}`;
      return this.page(await this.readPartition(pk, bound, query.limit + 1, filter), query.limit);
    }
    const ownDays = query.tenant !== undefined && query.tenant !== DEFAULT_TENANT;
    const dayPrefix = ownDays ? `${TENANT_DAY_PREFIX}${query.tenant}#` : LAYOUT.audit.dayPrefix;
    const dayFilter = ownDays ? undefined : filter;
    const items: Item[] = [];
    let day = startOfDay(bound.time);
    const today = startOfDay(this.now()).getTime();
    for (let walked = 0; day.getTime() <= today; walked++, day = new Date(day.getTime() + DAY_MS)) {
      if (walked === MAX_DAYS_PER_PAGE) return { ...this.page(items, query.limit), next: { time: day, id: '' } };
      const after = day.getTime() > bound.time.getTime() ? { time: day, id: '' } : bound;
      items.push(
        ...(await this.readPartition(`${dayPrefix}${dayOf(day)}`, after, query.limit + 1 - items.length, dayFilter)),
      );
      if (items.length > query.limit) break;
    }
    return this.page(items, query.limit);
  }

  private page(items: Item[], limit: number): AuditPage {
    const records = items.slice(0, limit).map(fromItem);
    const last = records[records.length - 1];
    return items.length > limit && last ? { records, next: { time: last.time, id: last.id } } : { records };
  }

  private async readPartition(pk: string, after: AuditCursor, want: number, filter?: TenantFilter): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const res = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.name,
          KeyConditionExpression: 'pk = :pk AND sk > :after',
          ExpressionAttributeValues: toItem({ ':pk': pk, ':after': sortKey(after), ...filter?.values }),
          ...(filter ? { FilterExpression: filter.expression } : {}),
          ConsistentRead: true,
          Limit: want - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(res.Items ?? []));
      startKey = res.LastEvaluatedKey;
    } while (startKey && items.length < want);
    return items;
  }

  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) {
        throw new ServiceUnavailableError('DynamoDB unavailable: audit writes keep coming back unprocessed', 1);
      }
      if (attempt > 0) await backoff(attempt);
      const { client, name } = this.table;
      const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [name]: pending } }));
      pending = res.UnprocessedItems?.[name] ?? [];
    }
  }
}
