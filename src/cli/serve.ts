/**
 * `keyplane serve`: the standalone server (what `npm start` runs). Options override the matching
 * KEYPLANE_* variables; a summary of the configuration, without secrets, is printed at start.
 */
import { Command } from 'commander';
import { ConfigError, describeConfig, loadConfig, processEnv, type Config, type Env } from '../config';
import { VERSION } from '../version';
import { CliError, EXIT_CODES, UsageError } from './cli-errors';
import { note, renderFields } from './output';

interface ServeOptions {
  port?: string;
  host?: string;
  dataDir?: string;
  publicUrl?: string;
  logLevel?: string;
}

const OVERRIDES: ReadonlyArray<[keyof ServeOptions, string]> = [
  ['port', 'KEYPLANE_PORT'],
  ['host', 'KEYPLANE_HOST'],
  ['dataDir', 'KEYPLANE_DATA_DIR'],
  ['publicUrl', 'KEYPLANE_PUBLIC_URL'],
  ['logLevel', 'KEYPLANE_LOG_LEVEL'],
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

async function run(opts: ServeOptions): Promise<void> {
  const config = configFrom(opts);
  // Loaded here, not at the top: the server pulls in the whole app, which client commands never need.
  const { startServer } = require('../server') as typeof import('../server');
  let started: Awaited<ReturnType<typeof startServer>>;
  try {
    started = await startServer(config);
  } catch (err) {
    throw new CliError(`failed to start: ${(err as Error).message}`, EXIT_CODES.failed);
  }
  serving = true;
  const addr = started.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  note(startBanner({ ...config, port }, `http://${host}:${port}`));
  const stop = () => void started.close().then(() => process.exit(EXIT_CODES.ok));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
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
    .addHelpText(
      'after',
      `
Every other setting comes from the KEYPLANE_* environment variables (see the README).
Logs are JSON lines on stdout; the start summary goes to stderr. Stop with Ctrl-C or SIGTERM.

Exit codes:
  0  stopped by SIGINT/SIGTERM
  1  the server failed to start (e.g. port in use)
  2  configuration error (the message names the variable or option)`,
    )
    .action(async (opts: ServeOptions) => run(opts));
}
