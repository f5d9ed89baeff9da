/**
 * `keyplane serve`: the standalone server (what `npm start` runs). Options override the matching
 * KEYPLANE_* variables; a summary of the configuration, without secrets, is printed at start.
 */
import cluster from 'node:cluster';
import { Command } from 'commander';
import { ConfigError, describeConfig, loadConfig, processEnv, type Config, type Env } from '../config';
import { VERSION } from '../version';
import { CliError, EXIT_CODES, UsageError } from './cli-errors';
import { note, renderFields } from './output';
import { reportListening, startWorkers } from './serve-workers';

interface ServeOptions {
  port?: string;
  host?: string;
  dataDir?: string;
  publicUrl?: string;
  logLevel?: string;
  workers?: string;
}

const OVERRIDES: ReadonlyArray<[keyof ServeOptions, string]> = [
  ['port', 'KEYPLANE_PORT'],
  ['host', 'KEYPLANE_HOST'],
  ['dataDir', 'KEYPLANE_DATA_DIR'],
  ['publicUrl', 'KEYPLANE_PUBLIC_URL'],
  ['logLevel', 'KEYPLANE_LOG_LEVEL'],
  ['workers', 'KEYPLANE_WORKERS'],
];

/** The environment with command-line overrides applied. */
function serveEnvironment(opts: ServeOptions, env: Env = processEnv()): Env {
  const out = { ...env };
  for (const [option, variable] of OVERRIDES) if (opts[option] !== undefined) out[variable] = opts[option];
  return out;
}

function configFrom(opts: ServeOptions): Config {
  try {
    return loadConfig(serveEnvironment(opts));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`configuration error: ${err.message}`);
    throw err;
  }
}

/** The start banner: where Keyplane listens and the describeConfig summary (never secrets). */
function startBanner(config: Config, address: string): string {
  const text = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const summary = Object.entries(describeConfig(config)).map(([k, v]) => [k, text(v)] as const);
  return `keyplane ${VERSION} listening on ${address}\n${renderFields(summary).trimEnd().replace(/^/gm, '  ')}\n`;
}

let serving = false;

/** True once `keyplane serve` has started a server (the process must then stay alive). */
export function isServing(): boolean {
  return serving;
}

/** The primary of `--workers N`: starts and supervises the workers, prints the banner once, exits with them. */
async function runPrimary(config: Config): Promise<void> {
  let started: Awaited<ReturnType<typeof startWorkers>>;
  try {
    started = await startWorkers(config.workers, (line) => note(`keyplane: ${line}\n`));
  } catch (err) {
    throw new CliError(`failed to start: ${(err as Error).message}`, EXIT_CODES.failed);
  }
  serving = true;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  note(startBanner({ ...config, port: started.port }, `http://${host}:${started.port}`));
  void started.exited.then((code) => process.exit(code));
}

async function run(opts: ServeOptions): Promise<void> {
  const config = configFrom(opts);
  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
  // Loaded here, not at the top: the server pulls in the whole app, which client commands never need.
  const { startServer } = require('../server') as typeof import('../server');
  let started: Awaited<ReturnType<typeof startServer>>;
  try {
    started = await startServer(config);
  } catch (err) {
    // A setting found wrong only while starting (a missing master key beside stored keys) is still one.
    if (err instanceof ConfigError) throw new UsageError(`configuration error: ${err.message}`);
    throw new CliError(`failed to start: ${(err as Error).message}`, EXIT_CODES.failed);
  }
  serving = true;
  const addr = started.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void started.close().then(() => process.exit(EXIT_CODES.ok));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (cluster.isWorker) {
    // The primary prints the banner once; a worker whose primary is gone drains and exits.
    process.once('disconnect', stop);
    reportListening(port);
    return;
  }
  note(startBanner({ ...config, port }, `http://${host}:${port}`));
}

/** Defines `keyplane serve`. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the Keyplane server (SQLite + local master key unless configured otherwise)')
    .option('--port <port>', 'listen port (KEYPLANE_PORT, default 8080; 0 picks a free port)')
    .option('--host <host>', 'listen address (KEYPLANE_HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'database and master key directory (KEYPLANE_DATA_DIR, default ./data)')
    .option('--public-url <url>', 'base of key URLs in responses (KEYPLANE_PUBLIC_URL)')
    .option('--log-level <level>', 'pino log level (KEYPLANE_LOG_LEVEL, default info)')
    .option(
      '--workers <n>',
      'server processes sharing the port: a number or auto, one per core (KEYPLANE_WORKERS, default 1)',
    )
    .addHelpText(
      'after',
      `
Every other setting comes from the KEYPLANE_* environment variables (see the README).
Logs are JSON lines on stdout; the start summary goes to stderr. Stop with Ctrl-C or SIGTERM.
With --workers N, N processes share the port (node:cluster); a worker that dies is restarted,
and SIGTERM drains them all. Rate limits are counted per worker.

Exit codes:
  0  stopped by SIGINT/SIGTERM
  1  the server failed to start (e.g. port in use)
  2  configuration error (the message names the variable or option)`,
    )
    .action(async (opts: ServeOptions) => run(opts));
}
