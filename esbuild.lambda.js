// How the Lambda bundle is built: read by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and by bench/lambda-bundle.js, so the benchmark measures exactly what `serverless package` ships.

/** Modules the bundle must not contain: the AWS SDK v3 is in the Lambda runtime; better-sqlite3 is a
 * native addon that only the standalone server loads (lazily). Listed under serverless-esbuild's
 * `exclude`, they become esbuild externals and are not installed into the package either. */
const EXCLUDE = ['@aws-sdk/*', 'better-sqlite3'];

/** esbuild options proper (what `esbuild.build()` accepts), shared with the benchmark. */
const ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  // Error classes set `this.name = new.target.name`; keep class names readable in logs.
  keepNames: true,
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
