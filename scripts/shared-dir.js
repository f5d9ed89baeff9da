#!/usr/bin/env node
'use strict';
// Where the workplace's shared folder is (moto-server, the CPIX XSDs): tests, scripts/test-deps.sh and the
// benchmarks all ask here, so a clone anywhere finds it the same way:
//   1. KEYPLANE_SHARED_DIR, when set;
//   2. `shared` beside the repository (the usual layout: ../shared);
//   3. `shared` beside the repository this one was cloned from, when its `origin` is a local path (a CI
//      clone in /tmp of a checkout that sits beside shared).
// Prints the folder (or the first candidate, which then does not exist) when run as a script.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function originDir() {
  try {
    const url = execFileSync('git', ['-C', ROOT, 'config', '--get', 'remote.origin.url'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const local = url.startsWith('file://') ? url.slice('file://'.length) : url;
    return path.isAbsolute(local) ? local : undefined;
  } catch {
    return undefined;
  }
}

/** The shared folder by the rules above; the first candidate when none exists (callers report it missing). */
function sharedDir() {
  if (process.env.KEYPLANE_SHARED_DIR) return path.resolve(process.env.KEYPLANE_SHARED_DIR);
  const beside = path.resolve(ROOT, '..', 'shared');
  if (fs.existsSync(beside)) return beside;
  const origin = originDir();
  const besideOrigin = origin && path.resolve(origin, '..', 'shared');
  return besideOrigin && fs.existsSync(besideOrigin) ? besideOrigin : beside;
}

module.exports = { sharedDir };
if (require.main === module) process.stdout.write(`${sharedDir()}\n`);
