import { actionOf, lowerBound, type AuditPage, type AuditQuery, type AuditRecord } from '../../audit/audit-record';
import type { AuditRepository } from '../repositories';
import { AppendBatcher } from './batch';
import { storableText, type Query } from './database';

interface AuditRow {
  id: string;
  time: string;
  resource_id: string;
  action: string;
  route: string;
  kid: string | null;
  principal: string | null;
  outcome: string;
  status: number;
  reason: string | null;
  client_ip: string | null;
  tenant: string | null;
}

const optional = <K extends string>(key: K, value: string | null) =>
  (value === null ? {} : { [key]: value }) as Partial<Record<K, string>>;

function toRecord(r: AuditRow): AuditRecord {
  return {
    id: r.id,
    time: new Date(Number(r.time)),
    action: actionOf(r.action),
    route: r.route,
    resourceId: r.resource_id,
    ...optional('kid', r.kid),
    ...optional('principal', r.principal),
    outcome: r.outcome === 'allowed' ? 'allowed' : r.outcome === 'failed' ? 'failed' : 'denied',
    status: r.status,
    ...optional('reason', r.reason),
    ...optional('clientIp', r.client_ip),
    ...optional('tenant', r.tenant),
  };
}

/** The columns in insert order, with the array type `unnest` reads each from. */
const text = (value: string | undefined): string | null => (value === undefined ? null : storableText(value));
const COLUMNS: readonly [string, string, (r: AuditRecord) => unknown][] = [
  ['id', 'text', (r) => text(r.id)],
  ['time', 'bigint', (r) => r.time.getTime()],
  ['resource_id', 'text', (r) => text(r.resourceId)],
  ['action', 'text', (r) => text(r.action)],
  ['route', 'text', (r) => text(r.route)],
  ['kid', 'text', (r) => text(r.kid)],
  ['principal', 'text', (r) => text(r.principal)],
  ['outcome', 'text', (r) => text(r.outcome)],
  ['status', 'int', (r) => r.status],
  ['reason', 'text', (r) => text(r.reason)],
  ['client_ip', 'text', (r) => text(r.clientIp)],
  ['tenant', 'text', (r) => text(r.tenant)],
];
const INSERT =
  `INSERT INTO audit (${COLUMNS.map(([c]) => c).join(', ')}) ` +
  `SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`;

/**
 * The audit trail in the `audit` table: the appends of one event-loop turn are one statement (all records or
 * none, see AppendBatcher), committed before the requests that wrote them answer; pages in (time, id) order
 * through the (resource, time), (tenant, time) and (time) indexes. Retention is applied around it (see `withAuditRetention` and `pruneBefore`).
 */
export class PostgresAuditRepository implements AuditRepository {
  private readonly appends: AppendBatcher<AuditRecord>;

  constructor(private readonly sql: Query) {
    this.appends = new AppendBatcher((records) =>
      sql(
        INSERT,
        COLUMNS.map(([, , value]) => records.map(value)),
      ),
    );
  }

  async append(records: readonly AuditRecord[]): Promise<void> {
    if (records.length > 0) await this.appends.append(records);
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const bound = lowerBound(query);
    const args: unknown[] = [bound.time.getTime(), storableText(bound.id)];
    const where = ['(time > $1 OR (time = $1 AND id > $2))'];
    if (query.resourceId !== undefined) where.push(`resource_id = $${args.push(storableText(query.resourceId))}`);
    if (query.tenant !== undefined) {
      // A record without a tenant (written by a caller that set none) is `default`'s, as in the other stores.
      const n = args.push(storableText(query.tenant));
      where.push(`(tenant = $${n} OR (tenant IS NULL AND $${n} = 'default'))`);
    }
    const limit = args.push(query.limit + 1);
    const { rows } = await this.sql<AuditRow>(
      `SELECT id, time, resource_id, action, route, kid, principal, outcome, status, reason, client_ip, tenant FROM audit WHERE ${where.join(' AND ')} ORDER BY time, id LIMIT $${limit}`,
      args,
    );
    const records = rows.slice(0, query.limit).map(toRecord);
    const last = records[records.length - 1];
    return rows.length > query.limit && last ? { records, next: { time: last.time, id: last.id } } : { records };
  }

  /** Deletes at most `limit` records older than `before` (epoch ms), oldest first; returns how many. */
  async pruneBefore(before: number, limit: number): Promise<number> {
    const res = await this.sql(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < $1 ORDER BY time, id LIMIT $2)',
      [before, limit],
    );
    return res.rowCount ?? 0;
  }
}
