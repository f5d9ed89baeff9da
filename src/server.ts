import http, { type RequestListener, type Server } from 'node:http';
import { createApp } from './compose/app';
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

/** Starts the standalone server (what `npm start` runs) and resolves once it listens. */
export async function startServer(config: Config): Promise<{ server: Server; close: () => Promise<void> }> {
  await checkStoreExists(config);
  const backends = awsBackends(config);
  const deps = buildDeps(config, backends);
  const bootstrap = await deps.apiKeys.ensureBootstrapKey();
  const app = createApp(deps);
  const server = createHttpServer(app, config.timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  deps.logger.info({ config: describeConfig(config) }, 'keyplane listening');
  if (bootstrap) {
    // Printed once, to the operator's terminal only (not through the logger): only its hash is stored.
    process.stderr.write(
      `\nKeyplane created an admin API key (shown once; only its hash is stored):\n\n  ${bootstrap}\n\n` +
        'Set KEYPLANE_ADMIN_KEY to use your own, or create more with POST /api-keys.\n\n',
    );
  }
  const close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await backends.store.close();
  };
  return { server, close };
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
    const stop = () => void close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    process.stderr.write(`keyplane: failed to start: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
