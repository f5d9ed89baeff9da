#!/usr/bin/env node
'use strict';
// `npm run dev`: compiles src/ once, then keeps `tsc --watch` recompiling into dist/ while `node --watch`
// restarts the standalone server (dist/src/server.js) whenever the output changes. Uses only what
// `npm ci` installs (TypeScript) and Node itself, so there is no ts-node to add. Ctrl-C stops both.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TSC = require.resolve('typescript/bin/tsc');
const PROJECT = ['-p', path.join(ROOT, 'tsconfig.build.json')];

const first = spawnSync(process.execPath, [TSC, ...PROJECT], { cwd: ROOT, stdio: 'inherit' });
if (first.status !== 0) process.exit(first.status ?? 1);

const children = [
  spawn(process.execPath, [TSC, ...PROJECT, '--watch', '--preserveWatchOutput'], { cwd: ROOT, stdio: 'inherit' }),
  spawn(process.execPath, ['--watch', path.join(ROOT, 'dist/src/server.js')], { cwd: ROOT, stdio: 'inherit' }),
];

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
}
for (const child of children) child.once('exit', (code) => stop(code ?? 0));
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));
