/**
 * An admin change, audited like a key leaving: an API key created (`grant`) or revoked (`revoke`, resource
 * `apikey:<id>`), a lease released (`release`), a delivery policy set or removed (`configure`).
 */
export type ChangeAction = 'grant' | 'revoke' | 'release' | 'configure';

const CHANGE_ACTIONS: ReadonlySet<string> = new Set<ChangeAction>(['grant', 'revoke', 'release', 'configure']);

/** Whether an action (a manifest route's, say) is an admin change. */
export function isChangeAction(action: string): action is ChangeAction {
  return CHANGE_ACTIONS.has(action);
}

/**
 * What happened: a key handed to an encoder or admin (`issue`) or to a player/proxy (`deliver`), a
 * playback token revoked (`revoke`, resource `token:<jti>`), a master key rotation step by
 * `keyplane rotate-master-key` (`rotate`, resource `master-key:<id>`), or an admin change (ChangeAction).
 */
export type AuditAction = 'issue' | 'deliver' | 'rotate' | ChangeAction;

/** An action as stored, read back (anything unknown reads as `deliver`, as before `revoke` existed). */
export function actionOf(value: unknown): AuditAction {
  if (value === 'issue' || value === 'rotate') return value;
  return typeof value === 'string' && isChangeAction(value) ? value : 'deliver';
}

/** `allowed` (2xx), `denied` (4xx: credentials, scope, policy, unknown key) or `failed` (5xx). */
type AuditOutcome = 'allowed' | 'denied' | 'failed';

/** One audit entry. Never carries key material: only identifiers, the outcome and who asked from where. */
export interface AuditRecord {
  id: string;
  time: Date;
  action: AuditAction;
  /** The route as in the OpenAPI description, e.g. `GET /keys/{resourceId}/{kid}`. */
  route: string;
  resourceId: string;
  kid?: string;
  /** The caller: API key id, `admin`, SigV4 access key, IAM ARN, `token:<jti>`, `secure-link:<clientId>`. */
  principal?: string;
  outcome: AuditOutcome;
  status: number;
  /** The error code or deny reason of a refusal (`token_resource_mismatch`, `not_found`, ...). */
  reason?: string;
  clientIp?: string;
  /** The tenant the record belongs to: the resource owner's, else the caller's. Absent (older records): `default`. */
  tenant?: string;
}

/** A position in the (time, id) order of audit records; a page continues strictly after it. */
export interface AuditCursor {
  time: Date;
  id: string;
}

/** One page request: records at or after `since` and strictly after `cursor`, oldest first. */
export interface AuditQuery {
  resourceId?: string;
  /** Only records of this tenant (records without one count as `default`). */
  tenant?: string;
  since?: Date;
  limit: number;
  cursor?: AuditCursor;
}

/** One page: records in (time, id) order and where the next page starts (absent: no more). */
export interface AuditPage {
  records: AuditRecord[];
  next?: AuditCursor;
}

/** The exclusive lower bound of a query: the cursor, else just before `since` (or the epoch). */
export function lowerBound(query: AuditQuery): AuditCursor {
  const since = query.since ?? new Date(0);
  if (query.cursor && query.cursor.time.getTime() >= since.getTime()) return query.cursor;
  return { time: since, id: '' };
}

/** The outcome a response status stands for. */
export function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'allowed';
  return status < 500 ? 'denied' : 'failed';
}
