import type { AttributeValue, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { BatchWriteItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { lowerBound, type AuditCursor, type AuditPage, type AuditQuery, type AuditRecord } from '../audit/audit-record';
import { auditCutoff, expiresAtSeconds, withinRetention } from '../audit/audit-retention';
import { ServiceUnavailableError } from '../errors';

/*
 * Audit items in Keyplane's table. Each record is written twice, so it can be read per resource and,
 * without a resource, per day:
 *
 *   by resource  pk = AUDIT#<resourceId>    sk = <ISO time>#<id>
 *   by day       pk = AUDITDAY#<yyyy-mm-dd> sk = <ISO time>#<id>     (UTC day of the record's time)
 *
 * Attributes: id S, time N (epoch ms), resourceId S, action S, route S, outcome S, status N, and when
 * known kid S, principal S, reason S, clientIp S; with a retention, also ttl N (epoch *seconds*: the
 * record's time plus the retention, rounded up), the table's TTL attribute, so DynamoDB deletes expired
 * records. Its sweeper lags (up to days), so reads also skip records older than the retention; the
 * ttl never falls before that cutoff, so a record disappears from reads before it can vanish from
 * the table. Records written while retention was `forever` carry no ttl and stay. ISO times sort as strings, so a Query on `sk >` a
 * cursor reads a partition in (time, id) order. A global page walks at most MAX_DAYS_PER_PAGE day
 * partitions; when it stops early its `next` cursor points at the next day (the page may be short).
 * All records of a day share one partition: past ~1000 writes/s (DynamoDB's per-partition limit)
 * the day key would need sharding.
 */

type Item = Record<string, AttributeValue>;
/** Runs one DynamoDB call, mapping outages to ServiceUnavailableError (the key store's `call`). */
export type DynamoCall = <T>(send: () => Promise<T>) => Promise<T>;

const MAX_BATCH_WRITE = 25;
const MAX_DAYS_PER_PAGE = 31;
const DAY_MS = 24 * 3600 * 1000;
const MAX_UNPROCESSED_RETRIES = 8;

const sortKey = (c: AuditCursor) => `${c.time.toISOString()}#${c.id}`;
const dayOf = (time: Date) => time.toISOString().slice(0, 10);
const startOfDay = (time: Date) => new Date(Math.floor(time.getTime() / DAY_MS) * DAY_MS);

function toItem(r: AuditRecord, pk: string, retentionDays: number | undefined): Item {
  const item: Item = {
    pk: { S: pk },
    sk: { S: sortKey(r) },
    id: { S: r.id },
    time: { N: String(r.time.getTime()) },
    resourceId: { S: r.resourceId },
    action: { S: r.action },
    route: { S: r.route },
    outcome: { S: r.outcome },
    status: { N: String(r.status) },
  };
  for (const key of ['kid', 'principal', 'reason', 'clientIp'] as const) {
    const value = r[key];
    if (value !== undefined) item[key] = { S: value };
  }
  if (retentionDays !== undefined) item.ttl = { N: String(expiresAtSeconds(r.time, retentionDays)) };
  return item;
}

function fromItem(item: Item): AuditRecord {
  const s = (key: string) => item[key]?.S;
  const outcome = s('outcome');
  const record: AuditRecord = {
    id: s('id') ?? '',
    time: new Date(Number(item.time?.N)),
    action: s('action') === 'issue' ? 'issue' : 'deliver',
    route: s('route') ?? '',
    resourceId: s('resourceId') ?? '',
    outcome: outcome === 'allowed' ? 'allowed' : outcome === 'failed' ? 'failed' : 'denied',
    status: Number(item.status?.N),
  };
  for (const key of ['kid', 'principal', 'reason', 'clientIp'] as const) {
    const value = s(key);
    if (value !== undefined) record[key] = value;
  }
  return record;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The audit trail in Keyplane's DynamoDB table (layout above). `retentionDays` absent: records are kept
 * forever (no ttl, no read cutoff).
 */
export class DynamoDbAuditTable {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly call: DynamoCall,
    private readonly now: () => Date = () => new Date(),
    private readonly retentionDays?: number,
  ) {}

  /** Writes both items of every record (BatchWriteItem, unprocessed items retried with backoff). */
  async append(records: readonly AuditRecord[]): Promise<void> {
    const requests: WriteRequest[] = records.flatMap((r) => [
      { PutRequest: { Item: toItem(r, `AUDIT#${r.resourceId}`, this.retentionDays) } },
      { PutRequest: { Item: toItem(r, `AUDITDAY#${dayOf(r.time)}`, this.retentionDays) } },
    ]);
    for (let i = 0; i < requests.length; i += MAX_BATCH_WRITE) {
      await this.batchWrite(requests.slice(i, i + MAX_BATCH_WRITE));
    }
  }

  /**
   * One page in (time, id) order: one partition for a resource, else day partitions from the bound on.
   * Records past the retention are skipped (the bound starts at the cutoff), deleted by TTL yet or not.
   */
  async query(requested: AuditQuery): Promise<AuditPage> {
    const query = withinRetention(requested, auditCutoff(this.retentionDays, this.now()));
    const bound = lowerBound(query);
    if (query.resourceId !== undefined) {
      const items = await this.readPartition(`AUDIT#${query.resourceId}`, bound, query.limit + 1);
      return this.page(items, query.limit);
    }
    const items: Item[] = [];
    let day = startOfDay(bound.time);
    const today = startOfDay(this.now()).getTime();
    for (let walked = 0; day.getTime() <= today; walked++, day = new Date(day.getTime() + DAY_MS)) {
      if (walked === MAX_DAYS_PER_PAGE) return { ...this.page(items, query.limit), next: { time: day, id: '' } };
      const after = day.getTime() > bound.time.getTime() ? { time: day, id: '' } : bound;
      items.push(...(await this.readPartition(`AUDITDAY#${dayOf(day)}`, after, query.limit + 1 - items.length)));
      if (items.length > query.limit) break;
    }
    return this.page(items, query.limit);
  }

  private page(items: Item[], limit: number): AuditPage {
    const records = items.slice(0, limit).map(fromItem);
    const last = records[records.length - 1];
    return items.length > limit && last ? { records, next: { time: last.time, id: last.id } } : { records };
  }

  private async readPartition(pk: string, after: AuditCursor, want: number): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const res = await this.call(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: { ':pk': { S: pk }, ':after': { S: sortKey(after) } },
            ConsistentRead: true,
            Limit: want - items.length,
            ExclusiveStartKey: startKey,
          }),
        ),
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
      if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
      const res = await this.call(() =>
        this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } })),
      );
      pending = res.UnprocessedItems?.[this.tableName] ?? [];
    }
  }
}
