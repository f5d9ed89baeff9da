/**
 * Finds the Keyplane checkout the CLI runs from, for defaults that only make sense inside the
 * repository (the shared XSDs beside it, the committed test certificates).
 */
import fs from 'node:fs';
import path from 'node:path';

/** The nearest directory at or above `from` holding Keyplane's package.json and bin/ (not dist/'s copy), if any. */
export function packageRoot(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && fs.existsSync(path.join(dir, 'bin', 'keyplane.js'))) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'keyplane') return dir;
      } catch {
        // unreadable manifest: keep looking
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}
