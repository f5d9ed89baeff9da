#!/usr/bin/env node
// The `keyplane` command. The code lives in src/cli (compiled to dist/ by `npm run build`).
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('keyplane: dist/ is missing; run `npm run build` first.\n');
  process.exit(1);
}
void require(entry).main(process.argv);
