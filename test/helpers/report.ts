import fs from 'node:fs';

/**
 * Prints a test's measured figures as one JSON line on stderr and, when KEYPLANE_RELIABILITY_REPORT
 * names a file, appends the line there too (docs/reliability.md is written from these lines).
 */
export function reportFigures(name: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ name, at: new Date().toISOString(), ...figures });
  process.stderr.write(`[figures] ${line}\n`);
  const file = process.env.KEYPLANE_RELIABILITY_REPORT;
  if (file) fs.appendFileSync(file, `${line}\n`);
}
