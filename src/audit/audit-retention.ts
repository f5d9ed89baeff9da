import type { AuditQuery } from './audit-record';

/**
 * How long audit records are kept (`KEYPLANE_AUDIT_RETENTION_DAYS`): a number of days, or `forever`.
 * Stores take it as `auditRetentionDays` (absent: forever) and never return an older record, whether or
 * not it has been deleted yet (SQLite prunes in the background, DynamoDB's TTL sweeper lags by days).
 */
export type AuditRetention = number | 'forever';

/** Default retention of the audit trail, in days. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

const DAY_MS = 24 * 3600 * 1000;

/** The store option for a retention setting: days, or `undefined` to keep records forever. */
export function retentionDaysOf(retention: AuditRetention): number | undefined {
  return retention === 'forever' ? undefined : retention;
}

/** The oldest record time still kept at `now` (records at the cutoff are kept); `undefined`: forever. */
export function auditCutoff(retentionDays: number | undefined, now: Date): Date | undefined {
  return retentionDays === undefined ? undefined : new Date(now.getTime() - retentionDays * DAY_MS);
}

/** The query with `since` raised to the cutoff, so a read never returns an expired record. */
export function withinRetention(query: AuditQuery, cutoff: Date | undefined): AuditQuery {
  if (cutoff === undefined || (query.since !== undefined && query.since.getTime() >= cutoff.getTime())) return query;
  return { ...query, since: cutoff };
}

/** When a record written at `time` expires, in epoch seconds rounded up (a DynamoDB TTL value). */
export function expiresAtSeconds(time: Date, retentionDays: number): number {
  return Math.ceil((time.getTime() + retentionDays * DAY_MS) / 1000);
}
