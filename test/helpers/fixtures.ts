import fs from 'node:fs';
import path from 'node:path';

/** Root of the committed test fixtures. */
export const FIXTURES = path.resolve(__dirname, '../fixtures');

/** Reads a fixture file as UTF-8 text, optionally replacing literal substrings. */
export function fixture(name: string, replace: Record<string, string> = {}): string {
  let text = fs.readFileSync(path.join(FIXTURES, name), 'utf8');
  for (const [from, to] of Object.entries(replace)) text = text.split(from).join(to);
  return text;
}

/** Lists fixture files in a fixture folder. */
export function fixtureNames(dir: string): string[] {
  return fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter((f) => f.endsWith('.xml'))
    .sort();
}
