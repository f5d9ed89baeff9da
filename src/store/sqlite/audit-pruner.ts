import type Database from 'better-sqlite3';
import { auditCutoff } from '../../audit/audit-retention';
import type { SqliteAuditTable } from './audit-table';

/** What one prune run did. */
export interface AuditPruneRun {
  /** Records deleted by this run. */
  deleted: number;
  /** Expired records remain because the run used up its time budget; the next run follows shortly. */
  more: boolean;
  /** Why the run stopped (e.g. SQLITE_BUSY while another process held the write lock); the next run retries. */
  error?: unknown;
}

/** Settings of the audit pruner; only `retentionDays` and `now` are required. */
export interface AuditPruneOptions {
  /** Records older than this many days (at `now()`) are deleted. */
  retentionDays: number;
  /** The clock (tests inject one). */
  now: () => Date;
  /** Pause between runs when nothing expired is left (default 5 minutes). */
  intervalMs?: number;
  /** Records deleted per statement (default 1000). */
  batchSize?: number;
  /** A run starts no new batch after this long (default 20 ms), so it never holds the event loop for long. */
  budgetMs?: number;
  /** Pause before the next run when the previous one stopped at its budget (default 80 ms). */
  yieldMs?: number;
  /** How long a batch waits for another process's write lock before the run gives up (default 100 ms). */
  busyTimeoutMs?: number;
  /** Called after each timer run (logging, tests). */
  onPrune?: (run: AuditPruneRun) => void;
}

const DEFAULTS = { intervalMs: 5 * 60_000, batchSize: 1000, budgetMs: 20, yieldMs: 80, busyTimeoutMs: 100 };

/**
 * Deletes audit records past their retention from the SQLite audit file, off the request path: a timer
 * (unref'ed, so it never keeps the process alive) runs at start and then every `intervalMs`. A run deletes
 * the oldest records in batches of `batchSize` through the (time, id) index, each batch one autocommitted
 * statement (so it never sits inside a group commit), and stops after `budgetMs`; a backlog is worked
 * off in further runs `yieldMs` apart. Processes sharing the file may prune at the same time: each batch
 * takes the write lock for one short statement, deleting rows another process already deleted is a no-op,
 * and while the lock is held elsewhere a batch waits at most `busyTimeoutMs` (not the store's long busy
 * timeout) and the run ends until the next one.
 */
export class SqliteAuditPruner {
  private readonly settings: Required<Omit<AuditPruneOptions, 'onPrune'>> & Pick<AuditPruneOptions, 'onPrune'>;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    private readonly table: SqliteAuditTable,
    options: AuditPruneOptions,
  ) {
    this.settings = { ...DEFAULTS, ...options };
  }

  /** Schedules the first run (on the next timer turn, not during start) and every later one. */
  start(): void {
    this.schedule(0);
  }

  /** Cancels the timer; no run starts afterwards. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One bounded run now (what the timer calls); never throws. */
  runOnce(): AuditPruneRun {
    if (this.db.inTransaction || !this.db.open) return { deleted: 0, more: false };
    const cutoff = auditCutoff(this.settings.retentionDays, this.settings.now()) as Date;
    const previousTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${Math.floor(this.settings.busyTimeoutMs)}`);
    try {
      return this.deleteBatches(cutoff.getTime());
    } finally {
      this.db.pragma(`busy_timeout = ${previousTimeout}`);
    }
  }

  private deleteBatches(cutoff: number): AuditPruneRun {
    const { batchSize, budgetMs } = this.settings;
    const started = performance.now();
    let deleted = 0;
    try {
      for (;;) {
        const count = this.table.pruneBefore(cutoff, batchSize);
        deleted += count;
        if (count < batchSize) return { deleted, more: false };
        if (performance.now() - started >= budgetMs) return { deleted, more: true };
      }
    } catch (error) {
      return { deleted, more: false, error };
    }
  }

  private tick(): void {
    if (this.stopped) return;
    const run = this.runOnce();
    this.schedule(run.more ? this.settings.yieldMs : this.settings.intervalMs);
    this.settings.onPrune?.(run);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }
}
