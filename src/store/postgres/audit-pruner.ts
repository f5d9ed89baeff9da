import { auditCutoff } from '../../audit/audit-retention';
import type { PostgresAuditRepository } from './audit';

/** What one prune run did: records deleted, whether expired ones remain, and why it stopped early. */
export interface PostgresPruneRun {
  deleted: number;
  more: boolean;
  error?: unknown;
}

/** Settings of the audit pruner. */
export interface PostgresPruneOptions {
  retentionDays: number;
  now: () => Date;
  /** Pause between runs (default 5 minutes); a run that stopped at its batch cap continues 1 s later. */
  intervalMs?: number;
  /** Records deleted per statement (default 1000) and batches per run (default 20). */
  batchSize?: number;
  batchesPerRun?: number;
  /** Called after each timer run (logging, tests). */
  onPrune?: (run: PostgresPruneRun) => void;
}

/**
 * Deletes audit records past their retention off the request path: a timer (unref'ed) runs at start and
 * every `intervalMs`, deleting the oldest records in bounded batches, each its own short statement.
 * Every instance runs one; two deleting the same rows at once is harmless (the second finds them gone).
 * Reads never see expired records either way (see `withAuditRetention`).
 */
export class PostgresAuditPruner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly audit: PostgresAuditRepository,
    private readonly options: PostgresPruneOptions,
  ) {}

  /** Schedules the first run (on the next timer turn) and every later one. */
  start(): void {
    this.schedule(0);
  }

  /** Cancels the timer. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One bounded run now; never throws. */
  async runOnce(): Promise<PostgresPruneRun> {
    const { batchSize = 1000, batchesPerRun = 20 } = this.options;
    const cutoff = (auditCutoff(this.options.retentionDays, this.options.now()) as Date).getTime();
    let deleted = 0;
    try {
      for (let batch = 0; batch < batchesPerRun; batch++) {
        const count = await this.audit.pruneBefore(cutoff, batchSize);
        deleted += count;
        if (count < batchSize) return { deleted, more: false };
      }
      return { deleted, more: true };
    } catch (error) {
      return { deleted, more: false, error };
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce().then((run) => {
        this.schedule(run.more ? 1000 : (this.options.intervalMs ?? 5 * 60_000));
        this.options.onPrune?.(run);
      });
    }, delayMs);
    this.timer.unref();
  }
}
