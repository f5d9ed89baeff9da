import type { AuditPage, AuditQuery } from '../audit/audit-record';
import { auditCutoff, withinRetention } from '../audit/audit-retention';
import type { AuditRepository } from './repositories';

/** How long a backend keeps audit records, and the clock that judges it. */
interface AuditRetentionWindow {
  /** Days records are kept; absent: forever. */
  retentionDays?: number;
  /** The clock (tests inject one). */
  now: () => Date;
}

/**
 * The audit repository seen through the retention: a query never reaches past the cutoff, so no record
 * older than the retention is returned, whether or not the backend has deleted it yet (SQLite prunes in
 * the background, DynamoDB's TTL sweeper lags by days). Written once for every backend.
 */
export function withAuditRetention(audit: AuditRepository, window: AuditRetentionWindow): AuditRepository {
  if (window.retentionDays === undefined) return audit;
  const days = window.retentionDays;
  return {
    append: (records) => audit.append(records),
    query: (query: AuditQuery): Promise<AuditPage> =>
      audit.query(withinRetention(query, auditCutoff(days, window.now()))),
  };
}
