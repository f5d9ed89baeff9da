import cluster from 'node:cluster';
import http, { type RequestListener, type Server } from 'node:http';
import { createApp, type AppDeps } from './compose/app';
import { apiKeyResource } from './http/request-audit';
import { awsBackends, checkStoreExists } from './compose/backends';
import {
  ConfigError,
  DEFAULT_HTTP_TIMEOUTS,
  describeConfig,
  loadConfig,
  type Config,
  type HttpTimeouts,
} from './config';
import { buildDeps } from './compose/services';
import { processEnv } from './config/env';
import { unknownVariables } from './config/unknown-variables';

/**
 * Applies the timeouts (see HttpTimeouts): a client that is slow to send its headers or its whole
 * request gets 408 and loses the connection; idle keep-alive lasts longer than any proxy or load
 * balancer in front (ALB: 60 s), so the server never closes an idle connection a client is about to
 * reuse ("socket hang up" under load). Node (>= 18) applies the headers timeout only while a request
 * is being received, so it may be shorter than keep-alive.
 */
export function tuneServer(server: Server, timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS): Server {
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  return server;
}

/**
 * How often Node checks connections against the headers and request timeouts (its default, 30 s,
 * would let a 10 s timeout fire only after up to 40 s): a quarter of the shorter timeout, 50 ms to 1 s.
 */
export function connectionsCheckingInterval(timeouts: HttpTimeouts): number {
  const shorter = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  return Math.max(50, Math.min(1000, Math.floor(shorter / 4)));
}

/** The HTTP server for `app` with the timeouts applied (what the standalone server and `keyplane serve` listen with). */
export function createHttpServer(app: RequestListener, timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS): Server {
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingInterval(timeouts),
    },
    app,
  );
  return tuneServer(server, timeouts);
}

/** Binds `server` to the port, naming the port when it is taken (Node's own message names only the address). */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new Error(`port ${port} is in use (on ${host})`));
      else if (err.code === 'EACCES') reject(new Error(`port ${port} needs privileges (on ${host})`));
      else reject(err);
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/**
 * Starts the standalone server (what `npm start` runs) and resolves once it listens. The port is taken
 * first and only then the store opened: a server that cannot listen creates no database, master key or
 * admin key. Requests in the moment between the two get 503.
 */
export async function startServer(config: Config): Promise<{ server: Server; close: () => Promise<void> }> {
  // A missing DynamoDB table is named at start, with the command that creates it, before anything is bound.
  await checkStoreExists(config);
  let app: RequestListener | undefined;
  const server = createHttpServer((req, res) => {
    if (app) return app(req, res);
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: 'ServiceUnavailable', message: 'Keyplane is starting; retry in a second' }));
  }, config.timeouts);
  await listen(server, config.port, config.host);
  let backends: ReturnType<typeof awsBackends> | undefined;
  let bootstrap: string | undefined;
  let deps: ReturnType<typeof buildDeps>;
  try {
    backends = awsBackends(config);
    deps = buildDeps(config, backends);
    // A worker of `keyplane serve --workers N` names itself in the access log and the start line.
    if (cluster.isWorker)
      deps = { ...deps, logger: deps.logger.child({ worker: cluster.worker?.id, pid: process.pid }) };
    bootstrap = await deps.apiKeys.ensureBootstrapKey();
    if (bootstrap) await auditBootstrap(deps, bootstrap);
    app = createApp(deps);
  } catch (err) {
    server.close();
    await backends?.store.close().catch(() => undefined);
    throw err;
  }
  deps.logger.info({ config: describeConfig(config) }, 'keyplane listening');
  const unknown = unknownVariables(processEnv());
  if (unknown.length > 0) {
    const named = unknown.map((u) => (u.didYouMean ? `${u.name} (did you mean ${u.didYouMean}?)` : u.name));
    deps.logger.warn({ variables: unknown }, `unknown KEYPLANE_* variables, ignored: ${named.join(', ')}`);
  }
  if (bootstrap) {
    // Printed once, to the operator's terminal only (not through the logger): only its hash is stored.
    process.stderr.write(
      `\nKeyplane created an admin API key (shown once; only its hash is stored):\n\n  ${bootstrap}\n\n` +
        'Set KEYPLANE_ADMIN_KEY to use your own, or create more with POST /api-keys.\n\n',
    );
  }
  const store = backends.store;
  const speke = deps.speke;
  const close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await speke.close();
    await store.close();
  };
  return { server, close };
}

/** Records the bootstrap admin key's creation like any other API key's (`grant`, resource `apikey:<id>`). */
async function auditBootstrap(deps: AppDeps, key: string): Promise<void> {
  const id = key.split('_')[1] as string;
  await deps.audit?.record([
    {
      action: 'grant',
      route: 'keyplane serve',
      resourceId: apiKeyResource(id),
      principal: 'keyplane',
      tenant: '*',
      status: 201,
    },
  ]);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`keyplane: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  try {
    const { close } = await startServer(config);
    if (config.workers > 1) {
      process.stderr.write('keyplane: KEYPLANE_WORKERS is for `keyplane serve`; this entry point runs one process\n');
    }
    const stop = () => void close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    // A setting found wrong only while starting (a missing master key beside stored keys) is still one.
    const configError = err instanceof ConfigError;
    const what = configError ? 'configuration error' : 'failed to start';
    process.stderr.write(`keyplane: ${what}: ${(err as Error).message}\n`);
    process.exit(configError ? 2 : 1);
  }
}

if (require.main === module) void main();
