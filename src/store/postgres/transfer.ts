import { actionOf, type AuditRecord } from '../../audit/audit-record';
import { AUDIT_COLUMNS, auditRow } from '../audit-row';
import type { StoredKey } from '../records';
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
import type { Query } from './database';

type Row = Record<string, unknown>;

/** How one kind maps to its table: columns in insert order, its key columns, row ↔ record. */
interface KindTable {
  table: string;
  columns: string[];
  /** Primary-key columns: the scan's order and position, `find`'s lookup. */
  key: string[];
  keyOf: (identity: string) => unknown[];
  toRecord: (row: Row) => TransferRecord;
  toRow: (r: TransferRecord) => unknown[];
}

const s = (v: unknown): string => String(v);
const date = (v: unknown): Date => new Date(Number(v));
const opt = <K extends string>(key: K, v: unknown) =>
  (v === null || v === undefined ? {} : { [key]: s(v) }) as Partial<Record<K, string>>;
type Of<K extends TransferKind> = Extract<TransferRecord, { kind: K }>['record'];
const rec = <K extends TransferKind>(t: TransferRecord) => t.record as Of<K>;

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
    status: Number(r.status),
    ...opt('reason', r.reason),
    ...opt('clientIp', r.client_ip),
    ...opt('tenant', r.tenant),
  };
}

const byId = (id: string): unknown[] => [id];

const TABLES: Record<TransferKind, KindTable> = {
  resource: {
    table: 'resources',
    columns: ['resource_id', 'tenant', 'kind', 'created_at'],
    key: ['resource_id'],
    keyOf: byId,
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
      const r = rec<'resource'>(t);
      return [r.resourceId, r.tenant, r.kind, r.createdAt.getTime()];
    },
  },
  key: {
    table: 'keys',
    columns: ['kid', 'resource_id', 'sealed', 'origin', 'created_at'],
    key: ['kid'],
    keyOf: byId,
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
      const r = rec<'key'>(t);
      return [r.kid, r.resourceId, r.sealed, r.origin, r.createdAt.getTime()];
    },
  },
  staticKey: {
    table: 'static_keys',
    columns: ['resource_id', 'kid', 'created_at'],
    key: ['resource_id'],
    keyOf: byId,
    toRecord: (r) => ({
      kind: 'staticKey',
      record: { resourceId: s(r.resource_id), kid: s(r.kid), createdAt: date(r.created_at) },
    }),
    toRow: (t) => {
      const r = rec<'staticKey'>(t);
      return [r.resourceId, r.kid, r.createdAt.getTime()];
    },
  },
  lease: {
    table: 'leases',
    columns: ['resource_id', 'owner', 'kids', 'rotating', 'expires_at', 'version'],
    key: ['resource_id'],
    keyOf: byId,
    toRecord: (r) => ({
      kind: 'lease',
      record: {
        resourceId: s(r.resource_id),
        owner: s(r.owner),
        kids: r.kids as string[],
        rotating: r.rotating === true,
        expiresAt: date(r.expires_at),
        version: Number(r.version),
      },
    }),
    toRow: (t) => {
      const r = rec<'lease'>(t);
      return [r.resourceId, r.owner, r.kids, r.rotating, r.expiresAt.getTime(), r.version];
    },
  },
  apiKey: {
    table: 'api_keys',
    columns: ['id', 'name', 'roles', 'secret_hash', 'created_at', 'revoked_at', 'tenant'],
    key: ['id'],
    keyOf: byId,
    toRecord: (r) => ({
      kind: 'apiKey',
      record: {
        id: s(r.id),
        name: s(r.name),
        roles: r.roles as string[],
        secretHash: r.secret_hash as Buffer,
        createdAt: date(r.created_at),
        ...(r.revoked_at === null ? {} : { revokedAt: date(r.revoked_at) }),
        tenant: s(r.tenant),
      },
    }),
    toRow: (t) => {
      const r = rec<'apiKey'>(t);
      return [r.id, r.name, r.roles, r.secretHash, r.createdAt.getTime(), r.revokedAt?.getTime() ?? null, r.tenant];
    },
  },
  policy: {
    table: 'resource_policies',
    columns: ['resource_id', 'rules', 'updated_at'],
    key: ['resource_id'],
    keyOf: byId,
    toRecord: (r) => ({
      kind: 'policy',
      record: { resourceId: s(r.resource_id), ...(r.rules as object), updatedAt: date(r.updated_at) },
    }),
    toRow: (t) => {
      const { resourceId, allowIps, denyIps, allowOrigins, updatedAt } = rec<'policy'>(t);
      return [resourceId, JSON.stringify({ allowIps, denyIps, allowOrigins }), updatedAt.getTime()];
    },
  },
  revocation: {
    table: 'revocations',
    columns: ['jti', 'tenant', 'revoked_by', 'revoked_at', 'expires_at'],
    key: ['jti', 'tenant'],
    keyOf: (id) => {
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
      const r = rec<'revocation'>(t);
      return [r.jti, r.tenant ?? '', r.revokedBy, r.revokedAt.getTime(), r.expiresAt.getTime()];
    },
  },
  audit: {
    table: 'audit',
    columns: [...AUDIT_COLUMNS],
    key: ['id'],
    keyOf: (id) => [auditIdentity(id).id],
    toRecord: (r) => ({ kind: 'audit', record: auditRecord(r) }),
    toRow: (t) => auditRow(rec<'audit'>(t)),
  },
};

const params = (from: number, count: number) => Array.from({ length: count }, (_, i) => `$${from + i}`).join(', ');

/** A scan position: the kind being read and the key of the last row read of it (none: from its start). */
interface Position {
  kind: number;
  after?: unknown[];
}

function parseCursor(cursor: string | undefined): Position {
  if (cursor === undefined) return { kind: 0 };
  const m = /^postgres:(\d+):(.*)$/s.exec(cursor);
  if (!m) throw new Error('Not a PostgreSQL scan cursor');
  const after =
    m[2] === '' ? undefined : (JSON.parse(Buffer.from(m[2] as string, 'base64url').toString('utf8')) as unknown[]);
  return { kind: Number(m[1]), after };
}

const cursorOf = (p: Position): string =>
  `postgres:${p.kind}:${p.after ? Buffer.from(JSON.stringify(p.after)).toString('base64url') : ''}`;

/**
 * Scan, find and insert-if-absent over every table, kind by kind in primary-key order (keyset pages: one
 * index range read each; the cursor is `postgres:<kind>:<last key>`). Inserts never overwrite
 * (`ON CONFLICT DO NOTHING`), each one statement, committed before it resolves.
 */
export class PostgresTransferRepository implements TransferRepository {
  constructor(private readonly sql: Query) {}

  async scan(cursor: string | undefined, limit: number): Promise<TransferPage> {
    const position = parseCursor(cursor);
    const records: TransferRecord[] = [];
    while (position.kind < TRANSFER_KINDS.length && records.length < limit) {
      const t = TABLES[TRANSFER_KINDS[position.kind] as TransferKind];
      const want = limit - records.length;
      const keys = t.key.join(', ');
      const after = position.after;
      const where = after ? `WHERE (${keys}) > (${params(1, after.length)})` : '';
      const { rows } = await this.sql<Row>(
        `SELECT ${t.columns.join(', ')} FROM ${t.table} ${where} ORDER BY ${keys} LIMIT $${(after?.length ?? 0) + 1}`,
        [...(after ?? []), want],
      );
      for (const row of rows) records.push(t.toRecord(row));
      const last = rows[rows.length - 1];
      if (rows.length < want) {
        position.kind += 1;
        position.after = undefined;
      } else position.after = t.key.map((k) => (last as Row)[k]);
    }
    return position.kind < TRANSFER_KINDS.length ? { records, next: cursorOf(position) } : { records };
  }

  async find(kind: TransferKind, identity: string): Promise<TransferRecord | undefined> {
    const t = TABLES[kind];
    const where = t.key.map((k, i) => `${k} = $${i + 1}`).join(' AND ');
    const { rows } = await this.sql<Row>(
      `SELECT ${t.columns.join(', ')} FROM ${t.table} WHERE ${where}`,
      t.keyOf(identity),
    );
    return rows[0] && t.toRecord(rows[0]);
  }

  async keysOf(resourceId: string, limit: number): Promise<StoredKey[]> {
    const t = TABLES.key;
    const { rows } = await this.sql<Row>(
      `SELECT ${t.columns.join(', ')} FROM keys WHERE resource_id = $1 ORDER BY created_at, kid LIMIT $2`,
      [resourceId, limit],
    );
    return rows.map((row) => rec<'key'>(t.toRecord(row)));
  }

  async insert(record: TransferRecord): Promise<TransferRecord | undefined> {
    const t = TABLES[record.kind];
    const res = await this.sql(
      `INSERT INTO ${t.table} (${t.columns.join(', ')}) VALUES (${params(1, t.columns.length)}) ON CONFLICT DO NOTHING`,
      t.toRow(record),
    );
    if ((res.rowCount ?? 0) > 0) return undefined;
    return this.find(record.kind, identityOf(record));
  }
}
