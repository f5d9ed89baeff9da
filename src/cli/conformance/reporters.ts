/**
 * Conformance results as a pass/fail table for people or JSON for CI.
 */
import { renderTable } from '../output';
import type { CheckReport } from './runner';

/** Counts by status. */
interface Summary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
}

/** Counts the reports by status. */
export function summarize(reports: readonly CheckReport[]): Summary {
  const count = (status: string) => reports.filter((r) => r.status === status).length;
  return { total: reports.length, passed: count('pass'), failed: count('fail'), skipped: count('skip') };
}

const MARK: Record<string, string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

/** The table: one row per check, then failures named again and a summary line. */
export function tableReport(target: string, reports: readonly CheckReport[]): string {
  const rows = reports.map((r) => [
    MARK[r.status] ?? r.status,
    r.name,
    r.category,
    r.detail.replace(/\s+/g, ' ').slice(0, 140),
  ]);
  const s = summarize(reports);
  const failed = reports.filter((r) => r.status === 'fail').map((r) => `  ${r.name}: ${r.detail}`);
  return (
    `SPEKE conformance of ${target}\n\n` +
    renderTable(['RESULT', 'CHECK', 'CATEGORY', 'DETAIL'], rows) +
    (failed.length ? `\nFailed checks:\n${failed.join('\n')}\n` : '') +
    `\n${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped (${s.total} checks)\n`
  );
}

/** The JSON document `--json` prints. */
export function jsonReport(target: string, versions: readonly string[], reports: readonly CheckReport[]) {
  return { target, speke: versions, summary: summarize(reports), checks: reports };
}
