#!/usr/bin/env node
// Compiles src/ into dist/src/ from scratch. tsc never deletes outputs whose source is gone, and a stale
// file can shadow a moved module (dist/src/config.js would win over dist/src/config/index.js), so the
// old output is removed first. Used by `npm run build`, `npm start`, the benches and the test set-up.
//
// When dist/ is current it does nothing (`npm start` should not recompile every time): a stamp written
// after a successful build lists the sources it was built from; any source or tsconfig newer than the
// stamp, or a source added or removed since, means a full rebuild. `--force` always rebuilds.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stampFile = path.join(root, 'dist', '.build-stamp.json');

function sources(dir = path.join(root, 'src')) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [path.relative(root, file)] : [];
  });
}

function current(files) {
  let stamp;
  try {
    stamp = { ...JSON.parse(fs.readFileSync(stampFile, 'utf8')), mtimeMs: fs.statSync(stampFile).mtimeMs };
  } catch {
    return false;
  }
  if (!fs.existsSync(path.join(root, 'dist', 'src'))) return false;
  if (JSON.stringify(stamp.sources) !== JSON.stringify(files)) return false;
  const inputs = [...files, 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
  return inputs.every((f) => fs.statSync(path.join(root, f)).mtimeMs < stamp.mtimeMs);
}

const files = sources().sort();
if (!process.argv.includes('--force') && current(files)) process.exit(0);
fs.rmSync(stampFile, { force: true });
fs.rmSync(path.join(root, 'dist', 'src'), { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
fs.writeFileSync(stampFile, JSON.stringify({ sources: files }) + '\n');
