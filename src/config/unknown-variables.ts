import fs from 'node:fs';
import path from 'node:path';
import type { Env } from './env';

const NAME = /\bKEYPLANE_[A-Z0-9_]*[A-Z0-9]\b/g;

/** Every KEYPLANE_* name the configuration loader and the CLI read, taken from their own source (no copy to keep). */
function knownVariables(dirs = [__dirname, path.join(__dirname, '..', 'cli')]): Set<string> {
  const known = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(js|ts)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
        for (const name of fs.readFileSync(file, 'utf8').match(NAME) ?? []) known.add(name);
    }
  };
  dirs.forEach(walk);
  return known;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[b.length] as number;
}

/** A KEYPLANE_* variable Keyplane does not read, with the closest known name when one is near. */
export interface UnknownVariable {
  name: string;
  didYouMean?: string;
}

/**
 * The KEYPLANE_* variables set in `env` that nothing reads (typically a typo, silently ignored otherwise),
 * each with the nearest known name within 3 edits. Found by scanning the loader's files, so a server
 * started from a bundle without them reports nothing rather than everything.
 */
export function unknownVariables(env: Env, known: Set<string> = knownVariables()): UnknownVariable[] {
  if (known.size === 0) return [];
  return Object.keys(env)
    .filter((name) => name.startsWith('KEYPLANE_') && !known.has(name))
    .sort()
    .map((name) => {
      const [best] = [...known]
        .map((k) => [k, distance(name, k)] as const)
        .filter(([, d]) => d <= 3)
        .sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0]));
      return best ? { name, didYouMean: best[0] } : { name };
    });
}
