import { spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/paths';

// Building the documented example (`npx tsc -p examples/keyserver-proxy` → examples/keyserver-proxy/dist/)
// must not break `npm run lint`: compiled output anywhere is ignored, sources are not. ESLint loads its
// flat config with a dynamic import, which jest's VM cannot do, so it is asked in a plain Node process.

const IGNORED = ['examples/keyserver-proxy/dist/index.js', 'dist/src/server.js', 'examples/any/dist/x.js'];
const LINTED = ['examples/keyserver-proxy/index.ts', 'src/server.ts', 'scripts/build.js'];

function ignoredByEslint(files: string[]): Record<string, boolean> {
  const script = `const { ESLint } = require('eslint');
const eslint = new ESLint({ cwd: process.cwd() });
Promise.all(process.argv.slice(1).map(async (f) => [f, await eslint.isPathIgnored(f)]))
  .then((pairs) => process.stdout.write(JSON.stringify(Object.fromEntries(pairs))));`;
  const res = spawnSync(process.execPath, ['-e', script, ...files], { cwd: ROOT, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout) as Record<string, boolean>;
}

it('eslint ignores every dist/ (the built example included) and lints the sources', () => {
  const result = ignoredByEslint([...IGNORED, ...LINTED]);
  expect(result).toEqual(Object.fromEntries([...IGNORED.map((f) => [f, true]), ...LINTED.map((f) => [f, false])]));
});
