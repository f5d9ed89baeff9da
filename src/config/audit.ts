import { DEFAULT_AUDIT_RETENTION_DAYS, type AuditRetention } from '../audit/audit-retention';
import { fail, integer, optional, type Env } from './env';

/** Longest retention a number of days may name (100 years); beyond that, say `forever`. */
const MAX_AUDIT_RETENTION_DAYS = 36500;

/** Reads `KEYPLANE_AUDIT_RETENTION_DAYS`: days (default 90, at least 1) or `forever`. */
export function loadAuditRetention(env: Env): AuditRetention {
  const name = 'KEYPLANE_AUDIT_RETENTION_DAYS';
  const raw = optional(env, name);
  if (raw?.toLowerCase() === 'forever') return 'forever';
  if (raw !== undefined && !/^\d+$/.test(raw)) {
    fail(name, `must be a whole number of days (1 or more) or "forever", got "${raw}"`);
  }
  if (raw !== undefined && Number(raw) === 0) {
    fail(name, 'must be at least 1 day; to keep records without limit, set it to "forever"');
  }
  return integer(env, name, DEFAULT_AUDIT_RETENTION_DAYS, 1, MAX_AUDIT_RETENTION_DAYS);
}

/** The retention as a start-up summary shows it. */
export function describeRetention(retention: AuditRetention): string {
  if (retention === 'forever') return 'forever';
  return retention === 1 ? '1 day' : `${retention} days`;
}
