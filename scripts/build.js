#!/usr/bin/env node
// Compiles src/ into dist/src/ from scratch. tsc never deletes outputs whose source is gone, and a stale
// file can shadow a moved module (dist/src/config.js would win over dist/src/config/index.js), so the
// old output is removed first. Used by `npm run build`, `npm start`, the benches and the test set-up.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
fs.rmSync(path.join(root, 'dist', 'src'), { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
