import type { AuditRecord } from '../audit/audit-record';

/** The audit table's columns in the SQL stores (SQLite and PostgreSQL), in the order auditRow gives them. */
export const AUDIT_COLUMNS = [
  'id', 'time', 'resource_id', 'action', 'route', 'kid', 'principal', 'outcome', 'status', 'reason', 'client_ip', 'tenant',
] as const; // prettier-ignore

/** An audit record as the SQL stores' row, in AUDIT_COLUMNS order (absent fields as null). */
export function auditRow(r: AuditRecord): unknown[] {
  return [
    r.id,
    r.time.getTime(),
    r.resourceId,
    r.action,
    r.route,
    r.kid ?? null,
    r.principal ?? null,
    r.outcome,
    r.status,
    r.reason ?? null,
    r.clientIp ?? null,
    r.tenant ?? null,
  ];
}
