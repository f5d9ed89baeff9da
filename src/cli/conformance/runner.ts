/**
 * Runs checks one after another with a progress line on stderr. A check's assertion failure is a
 * failed check; losing the server (unreachable, credentials rejected) or a usage error aborts the run.
 */
import { CliError } from '../cli-errors';
import { CheckFailedError, CheckSkippedError, type Check, type CheckOutcome, type ConformanceContext } from './check';

/** One finished check. */
export interface CheckReport extends CheckOutcome {
  name: string;
  category: string;
  speke: string;
  description: string;
  ms: number;
}

/** Where progress goes: a rewritten line on a terminal, one line per check otherwise. */
export interface Progress {
  start(index: number, total: number, name: string): void;
  done(report: CheckReport, index: number, total: number): void;
  finish(): void;
}

/** Progress on stderr. */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  const counter = (i: number, total: number) => `[${String(i + 1).padStart(String(total).length)}/${total}]`;
  return {
    start(i, total, name) {
      if (tty) stream.write(`\r\x1b[2K${counter(i, total)} ${name} …`);
    },
    done(report, i, total) {
      if (!tty) stream.write(`${counter(i, total)} ${report.status.padEnd(4)} ${report.name}\n`);
    },
    finish() {
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}

async function runOne(check: Check, ctx: ConformanceContext): Promise<CheckOutcome> {
  try {
    return await check.run(ctx);
  } catch (err) {
    if (err instanceof CheckSkippedError) return { status: 'skip', detail: err.message };
    if (err instanceof CheckFailedError) return { status: 'fail', detail: err.message };
    if (err instanceof CliError && err.exitCode !== 1) throw err;
    return { status: 'fail', detail: (err as Error).message };
  }
}

/** Runs every check in order and returns the reports. */
export async function runChecks(
  checks: readonly Check[],
  ctx: ConformanceContext,
  progress: Progress,
): Promise<CheckReport[]> {
  const reports: CheckReport[] = [];
  try {
    for (const [i, check] of checks.entries()) {
      progress.start(i, checks.length, check.name);
      const started = Date.now();
      const outcome = await runOne(check, ctx);
      const { name, category, speke, description } = check;
      const report = { name, category, speke, description, ...outcome, ms: Date.now() - started };
      reports.push(report);
      progress.done(report, i, checks.length);
    }
  } finally {
    progress.finish();
  }
  return reports;
}
