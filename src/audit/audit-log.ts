import type { Logger } from 'pino';
import { BadRequestError } from '../errors';
import type { AuditRepository } from '../store/repositories';
import { uuidV7 } from '../util/uuid-v7';
import { outcomeOf, type AuditCursor, type AuditRecord } from './audit-record';

/** What a caller reports; the log adds the id, the time and the outcome (from the status). */
export type AuditEvent = Omit<AuditRecord, 'id' | 'time' | 'outcome'>;

/** A page as the API shows it: ISO times and an opaque cursor. */
interface AuditApiPage {
  records: AuditView[];
  nextCursor?: string;
}

/** An audit record as JSON. */
type AuditView = Omit<AuditRecord, 'time'> & { time: string };

/** Page-size bounds of `GET /audit`. */
export const AUDIT_PAGE = { default: 100, max: 1000 } as const;
const GLOBAL_WINDOW_MS = 24 * 3600 * 1000;

/** Encodes a cursor as base64url JSON; clients treat it as opaque. */
function encodeCursor(cursor: AuditCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.time.getTime(), i: cursor.id })).toString('base64url');
}

/** Decodes a cursor from `encodeCursor`; 400 for anything else. */
function decodeCursor(text: string): AuditCursor {
  try {
    const { t, i } = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { t?: unknown; i?: unknown };
    // 8.64e15 ms is the last instant a Date can hold: past it the cursor would read as "no cursor".
    if (
      typeof t === 'number' &&
      Number.isSafeInteger(t) &&
      t >= 0 &&
      t <= 8.64e15 &&
      typeof i === 'string' &&
      i.length <= 64
    ) {
      return { time: new Date(t), id: i };
    }
  } catch {
    // fall through
  }
  throw new BadRequestError('cursor is not a cursor this API returned');
}

const view = (r: AuditRecord): AuditView => ({ ...r, time: r.time.toISOString() });

/**
 * The audit trail of key issuance and delivery. `record` awaits the store write, so a record is
 * committed before the key leaves (with SQLite it survives a process crash; see SqliteAuditRepository); a
 * failed write is logged (error) and counted in `failedWrites` but never fails the request: players
 * keep playing when the audit store hiccups, at the price of a gap that the error log (and the
 * counter) makes visible.
 */
export class AuditLog {
  /** Audit writes that failed since start (each also logged at error level). */
  failedWrites = 0;

  constructor(
    private readonly store: AuditRepository,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records events (one store write); never throws. */
  async record(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const time = this.now();
    const records = events.map((e) => ({ ...e, id: uuidV7(time.getTime()), time, outcome: outcomeOf(e.status) }));
    try {
      await this.store.append(records);
    } catch (err) {
      this.failedWrites += records.length;
      const first = records[0] as AuditRecord;
      this.logger.error(
        {
          err,
          lost: records.length,
          failedWrites: this.failedWrites,
          route: first.route,
          resourceId: first.resourceId,
        },
        'audit write failed',
      );
    }
  }

  /** One page for `GET /audit`; without a resource and `since`, the last 24 hours (DynamoDB reads day by day). */
  async query(params: {
    resourceId?: string;
    tenant?: string;
    since?: Date;
    limit: number;
    cursor?: string;
  }): Promise<AuditApiPage> {
    const global = params.resourceId === undefined;
    const page = await this.store.query({
      resourceId: params.resourceId,
      tenant: params.tenant,
      since: params.since ?? (global ? new Date(this.now().getTime() - GLOBAL_WINDOW_MS) : undefined),
      limit: params.limit,
      cursor: params.cursor === undefined ? undefined : decodeCursor(params.cursor),
    });
    return { records: page.records.map(view), ...(page.next ? { nextCursor: encodeCursor(page.next) } : {}) };
  }
}
