import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/paths';

// scripts/build.js (what `npm start` runs first): a second run with nothing changed does not recompile;
// a changed source rebuilds from scratch, so output whose source is gone still cannot survive.
// Runs on a copy of the sources so the repository's own dist/ is left alone.

it('skips tsc when dist/ is current and rebuilds from scratch after a source changes', () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-build-'));
  try {
    for (const f of ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'])
      fs.cpSync(path.join(ROOT, f), path.join(copy, f), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    const build = () => {
      const res = spawnSync(process.execPath, [path.join(copy, 'scripts/build.js')], { cwd: copy, encoding: 'utf8' });
      expect([res.status, res.stderr]).toEqual([0, '']);
    };
    const marker = path.join(copy, 'dist/src/left-over.js');
    build();
    expect(fs.existsSync(path.join(copy, 'dist/src/server.js'))).toBe(true);
    fs.writeFileSync(marker, '// not from any source\n');
    build();
    expect(fs.existsSync(marker)).toBe(true); // nothing changed: dist/src was not cleared, tsc did not run
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(path.join(copy, 'src/version.ts'), later, later);
    build();
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(path.join(copy, 'dist/src/server.js'))).toBe(true);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}, 300_000);
