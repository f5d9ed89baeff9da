import type Database from 'better-sqlite3';
import { isBusy } from './errors';

/** One queued write: runs in its own savepoint; its promise settles only after the shared COMMIT. */
interface Member {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** How a member's write ended inside the batch (before the batch itself committed). */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Settings of a GroupCommitter. */
interface GroupCommitOptions {
  /** Maps a batch-level failure (BEGIN, COMMIT, a rolled-back transaction) to what every member receives. */
  batchError: (err: unknown) => unknown;
  /** Called after each successful COMMIT with the number of writes it carried (tests, metrics). */
  onCommit?: (writes: number) => void;
  /**
   * false: no savepoint per write, so a write that throws fails the whole batch (every member gets
   * `batchError`). For appends that cannot conflict (the audit trail), where two statements per
   * write were a tenth of a key delivery's time.
   */
  savepoints?: boolean;
}

/**
 * Group commit for one SQLite connection. Writes submitted within one event-loop turn share one
 * `BEGIN IMMEDIATE … COMMIT` (so one WAL fsync under synchronous=FULL), each in its own SAVEPOINT:
 * a write that throws rolls back only its own changes and rejects only its own promise. Every
 * promise settles after the COMMIT returned, so a resolved write is durable and a rejected one may
 * name state (e.g. the winning lease) that is committed. If the batch as a whole fails, every member
 * is rejected with `batchError(err)` and nothing of the batch is kept. The whole batch runs
 * synchronously, so reads on the same connection never see a half-done batch.
 *
 * While another process holds the file's write lock (workers sharing a data dir, a CLI command), the
 * batch does not wait in SQLite's busy handler, which sleeps with the event loop blocked: it retries
 * every millisecond from a timer, so the process keeps answering reads meanwhile and later writes join
 * the waiting batch. Past the connection's busy timeout the batch fails as a blocked BEGIN would.
 */
export class GroupCommitter {
  private queue: Member[] = [];
  private scheduled = false;
  /** When the waiting batch first found the write lock taken (Date.now()), while it waits. */
  private busySince: number | undefined;
  private readonly busyTimeoutMs: number;
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly options: GroupCommitOptions,
  ) {
    this.busyTimeoutMs = db.pragma('busy_timeout', { simple: true }) as number;
    this.stmts = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT member'),
      release: db.prepare('RELEASE member'),
      rollbackTo: db.prepare('ROLLBACK TO member'),
      noWait: db.prepare('PRAGMA busy_timeout = 0'),
      restoreWait: db.prepare(`PRAGMA busy_timeout = ${Math.floor(this.busyTimeoutMs)}`),
    };
  }

  /** Queues a synchronous write for the next batch; resolves with its result once the batch is durable. */
  submit<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushWhenFree());
      }
    });
  }

  /**
   * Runs and commits everything queued so far, synchronously, waiting in SQLite's busy handler for the
   * write lock if need be (called before closing the database).
   */
  flush(): void {
    this.commitQueued(() => this.stmts.begin.run());
  }

  /** Starts the queued batch if the write lock is free now; otherwise tries again in a millisecond. */
  private flushWhenFree(): void {
    if (this.queue.length === 0) {
      this.scheduled = false;
      return;
    }
    let busy: unknown;
    try {
      busy = this.tryBegin();
    } catch (err) {
      return this.failQueued(err);
    }
    if (busy === undefined) return this.commitQueued(() => undefined);
    this.busySince ??= Date.now();
    if (Date.now() - this.busySince >= this.busyTimeoutMs) return this.failQueued(busy);
    setTimeout(() => this.flushWhenFree(), 1);
  }

  /** Opens the batch's transaction without waiting for the lock: undefined when it is open, else the busy error. */
  private tryBegin(): unknown {
    try {
      this.stmts.noWait.run();
      try {
        this.stmts.begin.run();
      } finally {
        this.stmts.restoreWait.run();
      }
      return undefined;
    } catch (err) {
      if (isBusy(err)) return err;
      throw err;
    }
  }

  private failQueued(err: unknown): void {
    this.rollbackQuietly();
    this.rejectAll(this.takeQueue(), err);
  }

  /** Empties the queue into a batch; the next write schedules a new one. */
  private takeQueue(): Member[] {
    this.scheduled = false;
    this.busySince = undefined;
    const batch = this.queue;
    this.queue = [];
    return batch;
  }

  /** A batch-level failure: every member gets `batchError(err)`. */
  private rejectAll(batch: Member[], err: unknown): void {
    const reason = this.options.batchError(err);
    for (const member of batch) member.reject(reason);
  }

  /** Runs the queued writes in one transaction that `begin` opens (or has opened) and commits it. */
  private commitQueued(begin: () => void): void {
    const batch = this.takeQueue();
    if (batch.length === 0) return;
    let outcomes: Outcome[];
    try {
      begin();
      outcomes = this.runBatch(batch);
    } catch (err) {
      this.rejectAll(batch, err);
      return;
    }
    batch.forEach((member, i) => settle(member, outcomes[i] as Outcome));
    this.options.onCommit?.(batch.length);
  }

  /** Runs the members inside the open transaction and commits it; on failure rolls it back and throws. */
  private runBatch(batch: Member[]): Outcome[] {
    try {
      const outcomes =
        this.options.savepoints === false
          ? batch.map((member): Outcome => ({ ok: true, value: member.work() }))
          : batch.map((member) => this.runMember(member));
      this.stmts.commit.run();
      return outcomes;
    } catch (err) {
      this.rollbackQuietly();
      throw err;
    }
  }

  /** Undoes the open transaction, if SQLite has not already; the original failure is what callers see. */
  private rollbackQuietly(): void {
    try {
      if (this.db.inTransaction) this.stmts.rollback.run();
    } catch {
      // The batch fails either way; a connection left in a transaction fails the next BEGIN too.
    }
  }

  private runMember(member: Member): Outcome {
    this.stmts.savepoint.run();
    try {
      const value = member.work();
      this.stmts.release.run();
      return { ok: true, value };
    } catch (error) {
      // SQLite rolled the whole transaction back (e.g. SQLITE_FULL): the batch is lost, not just this write.
      if (!this.db.inTransaction) throw error;
      this.stmts.rollbackTo.run();
      this.stmts.release.run();
      return { ok: false, error };
    }
  }
}

function settle(member: Member, outcome: Outcome): void {
  if (outcome.ok) member.resolve(outcome.value);
  else member.reject(outcome.error);
}
