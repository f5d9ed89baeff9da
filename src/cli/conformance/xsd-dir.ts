/**
 * Where `keyplane conformance` finds the CPIX XSDs by default: the same rule the tests use
 * (scripts/shared-dir.js), so a command that passes in CI passes from any clone.
 *   1. KEYPLANE_XSD_DIR;
 *   2. KEYPLANE_SHARED_DIR/docs/xsd;
 *   3. shared/docs/xsd beside the repository (../shared);
 *   4. shared/docs/xsd beside the repository a local clone came from (its `origin` is a local path).
 * Returns the first candidate that exists, else the `../shared` one (the validator then reports it missing).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../package-root';

function localOrigin(root: string): string | undefined {
  try {
    const url = execFileSync('git', ['-C', root, 'config', '--get', 'remote.origin.url'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const local = url.startsWith('file://') ? url.slice('file://'.length) : url;
    return path.isAbsolute(local) ? local : undefined;
  } catch {
    return undefined;
  }
}

/** The default `--xsd-dir` by the rules above. */
export function defaultXsdDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KEYPLANE_XSD_DIR) return path.resolve(env.KEYPLANE_XSD_DIR);
  if (env.KEYPLANE_SHARED_DIR) return path.resolve(env.KEYPLANE_SHARED_DIR, 'docs', 'xsd');
  const root = packageRoot() ?? process.cwd();
  const beside = path.resolve(root, '..', 'shared', 'docs', 'xsd');
  if (fs.existsSync(beside)) return beside;
  const origin = localOrigin(root);
  const besideOrigin = origin && path.resolve(origin, '..', 'shared', 'docs', 'xsd');
  return besideOrigin && fs.existsSync(besideOrigin) ? besideOrigin : beside;
}
