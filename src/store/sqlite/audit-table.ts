import type Database from 'better-sqlite3';
import { migrateAuditToTenants } from './tenants-schema';
import { auditRow } from '../audit-row';
import { actionOf, lowerBound, type AuditPage, type AuditQuery, type AuditRecord } from '../../audit/audit-record';

/** The audit table and its indexes (in the audit file; the main connection's for `:memory:`). */
export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY,
  time INTEGER NOT NULL,
  resource_id TEXT NOT NULL,
  action TEXT NOT NULL,
  route TEXT NOT NULL,
  kid TEXT,
  principal TEXT,
  outcome TEXT NOT NULL,
  status INTEGER NOT NULL,
  reason TEXT,
  client_ip TEXT
);
CREATE INDEX IF NOT EXISTS audit_resource_time ON audit (resource_id, time, id);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time, id);
`;

interface AuditRow {
  id: string;
  time: number;
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

type Bound = [number, number, string];

/** The audit insert (columns in auditRow's order), shared by the event loop's connection and the writer thread's. */
export const AUDIT_INSERT_SQL =
  'INSERT INTO audit (id, time, resource_id, action, route, kid, principal, outcome, status, reason, client_ip, tenant) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

const optional = <K extends string>(key: K, value: string | null) =>
  (value === null ? {} : { [key]: value }) as Partial<Record<K, string>>;

function toRecord(r: AuditRow): AuditRecord {
  return {
    id: r.id,
    time: new Date(r.time),
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

/**
 * The audit trail in the key store's SQLite file: one row per record, indexed by (resource, time) and
 * by time, in its own file (see SqliteDatabase and SqliteAuditRepository).
 */
export class SqliteAuditTable {
  private readonly stmts;

  constructor(db: Database.Database) {
    db.exec(AUDIT_SCHEMA);
    migrateAuditToTenants(db);
    const after = '(time > ? OR (time = ? AND id > ?))';
    this.stmts = {
      insert: db.prepare(AUDIT_INSERT_SQL),
      byResource: db.prepare<[string, ...Bound, number], AuditRow>(
        `SELECT * FROM audit WHERE resource_id = ? AND ${after} ORDER BY time, id LIMIT ?`,
      ),
      all: db.prepare<[...Bound, number], AuditRow>(`SELECT * FROM audit WHERE ${after} ORDER BY time, id LIMIT ?`),
      // A record without a tenant (written before tenants, or by a caller that set none) is `default`'s.
      byTenant: db.prepare<[string, string, ...Bound, number], AuditRow>(
        `SELECT * FROM audit WHERE (tenant = ? OR (tenant IS NULL AND ? = 'default')) AND ${after} ` +
          'ORDER BY time, id LIMIT ?',
      ),
      byResourceTenant: db.prepare<[string, string, string, ...Bound, number], AuditRow>(
        `SELECT * FROM audit WHERE resource_id = ? AND (tenant = ? OR (tenant IS NULL AND ? = 'default')) ` +
          `AND ${after} ORDER BY time, id LIMIT ?`,
      ),
      // The oldest rows first, found through the (time, id) index; one statement, so atomic on its own.
      prune: db.prepare<[number, number]>(
        'DELETE FROM audit WHERE rowid IN (SELECT rowid FROM audit WHERE time < ? ORDER BY time, id LIMIT ?)',
      ),
    };
  }

  /** Inserts records; call inside a transaction. */
  insert(records: readonly AuditRecord[]): void {
    for (const r of records) this.stmts.insert.run(...auditRow(r));
  }

  private select(query: AuditQuery, bound: Bound, limit: number): AuditRow[] {
    const { resourceId, tenant } = query;
    if (resourceId === undefined) {
      return tenant === undefined
        ? this.stmts.all.all(...bound, limit)
        : this.stmts.byTenant.all(tenant, tenant, ...bound, limit);
    }
    return tenant === undefined
      ? this.stmts.byResource.all(resourceId, ...bound, limit)
      : this.stmts.byResourceTenant.all(resourceId, tenant, tenant, ...bound, limit);
  }

  /** Deletes at most `limit` records older than `before` (epoch ms), oldest first; returns how many. */
  pruneBefore(before: number, limit: number): number {
    return this.stmts.prune.run(before, limit).changes;
  }

  /** One page in (time, id) order; `next` is set when more records follow. */
  query(query: AuditQuery): AuditPage {
    const bound = lowerBound(query);
    const args: Bound = [bound.time.getTime(), bound.time.getTime(), bound.id];
    const rows = this.select(query, args, query.limit + 1);
    const records = rows.slice(0, query.limit).map(toRecord);
    const last = records[records.length - 1];
    return rows.length > query.limit && last ? { records, next: { time: last.time, id: last.id } } : { records };
  }
}
