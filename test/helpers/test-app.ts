import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import pino from 'pino';
import { createApp, type AppDeps } from '../../src/compose/app';
import { loadConfig, type Config } from '../../src/config';
import { buildDeps, localBackends } from '../../src/compose/services';

/** The admin key every test app is configured with. */
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** A fully wired app on a temporary data dir, plus API keys for each role. */
export interface TestApp {
  app: Express;
  deps: AppDeps;
  config: Config;
  dataDir: string;
  encoderKey: string;
  encoder2Key: string;
  keyserverKey: string;
  close: () => Promise<void>;
}

/** Builds a real app (SQLite + local cipher) in a fresh temp dir; `now` is the clock every service reads. */
export async function makeTestApp(env: Record<string, string> = {}, opts: { now?: () => Date } = {}): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-test-'));
  const config = loadConfig({
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_PUBLIC_URL: 'http://keys.test',
    ...env,
  });
  const backends = localBackends(config, opts.now);
  const deps = buildDeps(config, backends, { logger: pino({ level: 'silent' }), now: opts.now });
  const encoderKey = (await deps.apiKeys.create('encoder-1', ['encoder'])).key;
  const encoder2Key = (await deps.apiKeys.create('encoder-2', ['encoder'])).key;
  const keyserverKey = (await deps.apiKeys.create('proxy', ['keyserver'])).key;
  return {
    app: createApp(deps),
    deps,
    config,
    dataDir,
    encoderKey,
    encoder2Key,
    keyserverKey,
    close: async () => {
      await deps.store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
