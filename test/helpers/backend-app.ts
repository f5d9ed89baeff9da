import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp, type AppDeps } from '../../src/compose/app';
import { loadConfig } from '../../src/config';
import { buildDeps, type Backends } from '../../src/compose/services';
import { tuneServer } from '../../src/server';
import { ADMIN_KEY } from './test-app';

/** API keys of the roles the reliability tests use. */
export interface RoleKeys {
  encoderKey: string;
  encoder2Key: string;
  keyserverKey: string;
}

/** The real app on chosen backends (DynamoDB, KMS, ...), listening on a loopback port. */
export interface RunningApp extends RoleKeys {
  port: number;
  deps: AppDeps;
  close: () => Promise<void>;
}

/** Creates an encoder, a second encoder and a keyserver API key in the app's store. */
export async function createRoleKeys(deps: AppDeps): Promise<RoleKeys> {
  return {
    encoderKey: (await deps.apiKeys.create('encoder-1', ['encoder'])).key,
    encoder2Key: (await deps.apiKeys.create('encoder-2', ['encoder'])).key,
    keyserverKey: (await deps.apiKeys.create('proxy', ['keyserver'])).key,
  };
}

/**
 * Wires `createApp` on the given backends with `buildDeps` (admin key ADMIN_KEY) and listens on
 * 127.0.0.1. Pass `keys` when another app already created them in the same store, and `env` for
 * further settings (e.g. `KEYPLANE_TRUSTED_PROXIES`).
 */
export async function startBackendApp(
  backends: Backends,
  keys?: RoleKeys,
  env: Record<string, string> = {},
): Promise<RunningApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-rel-'));
  const config = loadConfig({ KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: ADMIN_KEY, ...env });
  const deps = buildDeps(config, backends, { logger: pino({ level: 'silent' }) });
  const roleKeys = keys ?? (await createRoleKeys(deps));
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  tuneServer(server);
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await backends.store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { port: (server.address() as AddressInfo).port, deps, ...roleKeys, close };
}
