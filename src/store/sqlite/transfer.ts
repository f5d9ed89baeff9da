import type Database from 'better-sqlite3';
import { actionOf, type AuditRecord } from '../../audit/audit-record';
import {
  TRANSFER_KINDS,
  auditIdentity,
  identityOf,
  revocationIdentity,
  type TransferKind,
  type TransferPage,
  type TransferRecord,
  type TransferRepository,
} from '../transfer';
import type { StoredKey } from '../records';
import type { GroupCommitter } from './group-commit';
import { auditRow } from '../audit-row';

type Row = Record<string, unknown>;

/** How one kind maps to its table: columns in insert order, row ↔ record, and the identity lookup. */
interface KindTable {
  table: string;
  audit?: boolean;
  columns: string[];
  where: string;
  key: (identity: string) => unknown[];
  toRecord: (row: Row) => TransferRecord;
  toRow: (r: TransferRecord) => unknown[];
}

const n = (v: unknown): number => Number(v);
const s = (v: unknown): string => String(v);
const date = (v: unknown): Date => new Date(n(v));
const opt = <K extends string>(key: K, v: unknown) =>
  (v === null || v === undefined ? {} : { [key]: s(v) }) as Partial<Record<K, string>>;

const TABLES: Record<TransferKind, KindTable> = {
  resource: {
    table: 'resources',
    columns: ['resource_id', 'tenant', 'kind', 'created_at'],
    where: 'resource_id = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'resource',
      record: {
        resourceId: s(r.resource_id),
        tenant: s(r.tenant),
        kind: r.kind === 'static' ? 'static' : 'speke',
        createdAt: date(r.created_at),
      },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'resource' }>).record;
      return [r.resourceId, r.tenant, r.kind, r.createdAt.getTime()];
    },
  },
  key: {
    table: 'keys',
    columns: ['kid', 'resource_id', 'sealed', 'origin', 'created_at'],
    where: 'kid = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'key',
      record: {
        kid: s(r.kid),
        resourceId: s(r.resource_id),
        sealed: r.sealed as Buffer,
        origin: r.origin === 'static' ? 'static' : 'speke',
        createdAt: date(r.created_at),
      },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'key' }>).record;
      return [r.kid, r.resourceId, r.sealed, r.origin, r.createdAt.getTime()];
    },
  },
  staticKey: {
    table: 'static_keys',
    columns: ['resource_id', 'kid', 'created_at'],
    where: 'resource_id = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'staticKey',
      record: { resourceId: s(r.resource_id), kid: s(r.kid), createdAt: date(r.created_at) },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'staticKey' }>).record;
      return [r.resourceId, r.kid, r.createdAt.getTime()];
    },
  },
  lease: {
    table: 'leases',
    columns: ['resource_id', 'owner', 'kids', 'rotating', 'expires_at', 'version'],
    where: 'resource_id = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'lease',
      record: {
        resourceId: s(r.resource_id),
        owner: s(r.owner),
        kids: JSON.parse(s(r.kids)) as string[],
        rotating: n(r.rotating) === 1,
        expiresAt: date(r.expires_at),
        version: n(r.version),
      },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'lease' }>).record;
      return [r.resourceId, r.owner, JSON.stringify(r.kids), r.rotating ? 1 : 0, r.expiresAt.getTime(), r.version];
    },
  },
  apiKey: {
    table: 'api_keys',
    columns: ['id', 'name', 'roles', 'secret_hash', 'created_at', 'revoked_at', 'tenant'],
    where: 'id = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'apiKey',
      record: {
        id: s(r.id),
        name: s(r.name),
        roles: JSON.parse(s(r.roles)) as string[],
        secretHash: r.secret_hash as Buffer,
        createdAt: date(r.created_at),
        ...(r.revoked_at === null ? {} : { revokedAt: date(r.revoked_at) }),
        tenant: s(r.tenant),
      },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'apiKey' }>).record;
      const revoked = r.revokedAt?.getTime() ?? null;
      return [r.id, r.name, JSON.stringify(r.roles), r.secretHash, r.createdAt.getTime(), revoked, r.tenant];
    },
  },
  policy: {
    table: 'resource_policies',
    columns: ['resource_id', 'rules', 'updated_at'],
    where: 'resource_id = ?',
    key: (id) => [id],
    toRecord: (r) => ({
      kind: 'policy',
      record: { resourceId: s(r.resource_id), ...(JSON.parse(s(r.rules)) as object), updatedAt: date(r.updated_at) },
    }),
    toRow: (t) => {
      const { resourceId, allowIps, denyIps, allowOrigins, updatedAt } = (
        t as Extract<TransferRecord, { kind: 'policy' }>
      ).record;
      return [resourceId, JSON.stringify({ allowIps, denyIps, allowOrigins }), updatedAt.getTime()];
    },
  },
  revocation: {
    table: 'revocations',
    columns: ['jti', 'tenant', 'revoked_by', 'revoked_at', 'expires_at'],
    where: 'jti = ? AND tenant = ?',
    key: (id) => {
      const { jti, tenant } = revocationIdentity(id);
      return [jti, tenant];
    },
    toRecord: (r) => ({
      kind: 'revocation',
      record: {
        jti: s(r.jti),
        ...(r.tenant === '' ? {} : { tenant: s(r.tenant) }),
        revokedBy: s(r.revoked_by),
        revokedAt: date(r.revoked_at),
        expiresAt: date(r.expires_at),
      },
    }),
    toRow: (t) => {
      const r = (t as Extract<TransferRecord, { kind: 'revocation' }>).record;
      return [r.jti, r.tenant ?? '', r.revokedBy, r.revokedAt.getTime(), r.expiresAt.getTime()];
    },
  },
  audit: {
    table: 'audit',
    audit: true,
    columns: [
      'id',
      'time',
      'resource_id',
      'action',
      'route',
      'kid',
      'principal',
      'outcome',
      'status',
      'reason',
      'client_ip',
      'tenant',
    ],
    where: 'id = ?',
    key: (id) => [auditIdentity(id).id],
    toRecord: (r) => ({ kind: 'audit', record: auditRecord(r) }),
    // The columns above are AUDIT_INSERT_SQL's, in its order.
    toRow: (t) => auditRow((t as Extract<TransferRecord, { kind: 'audit' }>).record),
  },
};

function auditRecord(r: Row): AuditRecord {
  const outcome = r.outcome === 'allowed' ? 'allowed' : r.outcome === 'failed' ? 'failed' : 'denied';
  return {
    id: s(r.id),
    time: date(r.time),
    action: actionOf(r.action),
    route: s(r.route),
    resourceId: s(r.resource_id),
    ...opt('kid', r.kid),
    ...opt('principal', r.principal),
    outcome,
    status: n(r.status),
    ...opt('reason', r.reason),
    ...opt('clientIp', r.client_ip),
    ...opt('tenant', r.tenant),
  };
}

/** A scan position: the kind being read and the last rowid read of it. */
function parseCursor(cursor: string | undefined): { kind: number; rowid: number } {
  if (cursor === undefined) return { kind: 0, rowid: 0 };
  const m = /^sqlite:(\d+):(\d+)$/.exec(cursor);
  if (!m) throw new Error(`Not a SQLite scan cursor: ${cursor}`);
  return { kind: Number(m[1]), rowid: Number(m[2]) };
}

/**
 * Scan, find and insert-if-absent over the main file's tables and the audit file, kind by kind in
 * rowid order (the cursor is `sqlite:<kind>:<rowid>`): a page costs one indexed range read.
 */
export class SqliteTransferRepository implements TransferRepository {
  constructor(
    private readonly db: Database.Database,
    private readonly auditDb: Database.Database,
    private readonly writes: GroupCommitter,
    private readonly auditWrites: GroupCommitter,
  ) {}

  private dbOf(t: KindTable): Database.Database {
    return t.audit ? this.auditDb : this.db;
  }

  async scan(cursor: string | undefined, limit: number): Promise<TransferPage> {
    let { kind, rowid } = parseCursor(cursor);
    const records: TransferRecord[] = [];
    while (kind < TRANSFER_KINDS.length && records.length < limit) {
      const t = TABLES[TRANSFER_KINDS[kind] as TransferKind];
      const want = limit - records.length;
      const rows = this.dbOf(t)
        .prepare<[number, number], Row>(
          `SELECT rowid AS _rowid, * FROM ${t.table} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
        )
        .all(rowid, want);
      for (const row of rows) records.push(t.toRecord(row));
      if (rows.length < want) {
        kind += 1;
        rowid = 0;
      } else rowid = n(rows[rows.length - 1]?._rowid);
    }
    return kind < TRANSFER_KINDS.length ? { records, next: `sqlite:${kind}:${rowid}` } : { records };
  }

  async find(kind: TransferKind, identity: string): Promise<TransferRecord | undefined> {
    const t = TABLES[kind];
    const row = this.dbOf(t)
      .prepare<unknown[], Row>(`SELECT * FROM ${t.table} WHERE ${t.where}`)
      .get(...t.key(identity));
    return row && t.toRecord(row);
  }

  async keysOf(resourceId: string, limit: number): Promise<StoredKey[]> {
    const rows = this.db
      .prepare<[string, number], Row>('SELECT * FROM keys WHERE resource_id = ? ORDER BY created_at, kid LIMIT ?')
      .all(resourceId, limit);
    return rows.map((row) => (TABLES.key.toRecord(row) as Extract<TransferRecord, { kind: 'key' }>).record);
  }

  async insert(record: TransferRecord): Promise<TransferRecord | undefined> {
    const t = TABLES[record.kind];
    const sql = `INSERT OR IGNORE INTO ${t.table} (${t.columns.join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`;
    const stmt = this.dbOf(t).prepare(sql);
    const writes = t.audit ? this.auditWrites : this.writes;
    const changes = await writes.submit(() => stmt.run(...t.toRow(record)).changes);
    if (changes > 0) return undefined;
    return this.find(record.kind, identityOf(record));
  }
}
