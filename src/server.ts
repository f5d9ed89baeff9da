import type { Server } from 'node:http';
import { createApp } from './app';
import { awsBackends } from './aws-backends';
import { ConfigError, describeConfig, loadConfig, type Config } from './config';
import { buildDeps } from './runtime';

/**
 * Keep-alive longer than any proxy or load balancer in front (ALB: 60 s), so the server never
 * closes an idle connection a client is about to reuse ("socket hang up" under load).
 */
export function tuneServer(server: Server): Server {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

/** Starts the standalone server (what `npm start` runs) and resolves once it listens. */
export async function startServer(config: Config): Promise<{ server: Server; close: () => Promise<void> }> {
  const backends = awsBackends(config);
  const deps = buildDeps(config, backends);
  const bootstrap = await deps.apiKeys.ensureBootstrapKey();
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  tuneServer(server);
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
