// How the Lambda bundle is built: read by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and by bench/lambda-bundle.js, so the benchmark measures exactly what `serverless package` ships.

/** Modules the bundle must not contain: better-sqlite3 is a native addon that only the standalone
 * server loads (lazily). Listed under serverless-esbuild's `exclude`, it becomes an esbuild external
 * and is not installed into the package either. The AWS SDK v3 is bundled rather than taken from the
 * Lambda runtime: tree-shaken to the commands Keyplane sends, it starts faster than the runtime's
 * full CommonJS clients (docs/benchmarks.md, "AWS Lambda: bundle size and cold start"). The PostgreSQL
 * driver (`pg`, loaded lazily by the postgres store) is left out the same way: the Lambda runs on
 * DynamoDB, and the driver would add about 120 KB to every cold start. */
const EXCLUDE = ['better-sqlite3', 'pg'];

/** esbuild options proper (what `esbuild.build()` accepts), shared with the benchmark. */
const ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // ES module builds first (the AWS SDK's dist-es): esbuild tree-shakes them and scope-hoists them
  // without a per-module wrapper; packages without a `module` field are unaffected.
  mainFields: ['module', 'main'],
  // Whitespace and syntax minified, identifiers kept: the bundle is larger (2.6 MB instead of 1.9 MB)
  // but starts about 20 ms faster, and class and function names stay as written without `keepNames`,
  // whose per-function `__name()` calls cost about 13 ms more at start-up (docs/benchmarks.md). Error
  // classes set `this.name = new.target.name`; test/unit/lambda-bundle-names.test.ts checks that
  // bundling renames none of Keyplane's classes.
  minifyWhitespace: true,
  minifySyntax: true,
  // Stack traces map back to src/*.ts with NODE_OPTIONS=--enable-source-maps; no sources embedded.
  sourcemap: true,
  sourcesContent: false,
  external: EXCLUDE,
};

/** serverless-esbuild calls this with the serverless instance; plugin options ride along. */
module.exports = () => ({
  ...ESBUILD_OPTIONS,
  external: [],
  exclude: EXCLUDE,
  packager: 'npm',
});
module.exports.EXCLUDE = EXCLUDE;
module.exports.ESBUILD_OPTIONS = ESBUILD_OPTIONS;
