import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/compose/app';
import { buildDeps, localBackends } from '../../src/compose/services';
import { ConfigError, describeConfig, loadConfig } from '../../src/config';

// KEYPLANE_ADMIN_KEY_SHA256: the environment holds only the admin key's hash (a Lambda's configuration, an
// SSM parameter readable by ReadOnlyAccess), and the key itself still opens every admin route.

const KEY = crypto.randomBytes(32).toString('base64url');
const HASH = crypto.createHash('sha256').update(KEY).digest('hex');

describe('KEYPLANE_ADMIN_KEY_SHA256', () => {
  it('lets the key whose hash it is act as the admin of every tenant, and nothing else; no key is generated', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-admin-hash-'));
    const config = loadConfig({ KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY_SHA256: HASH.toUpperCase() });
    expect(describeConfig(config).adminKey).toBe('its SHA-256 from KEYPLANE_ADMIN_KEY_SHA256');
    expect(JSON.stringify(describeConfig(config))).not.toContain(HASH);
    const deps = buildDeps(config, localBackends(config), { logger: pino({ level: 'silent' }) });
    try {
      expect(await deps.apiKeys.ensureBootstrapKey()).toBeUndefined();
      const app = createApp(deps);
      const ok = await request(app).get('/tenants').set('x-api-key', KEY);
      expect(ok.status).toBe(200);
      expect((await request(app).get('/tenants').set('x-api-key', HASH)).status).toBe(401);
      expect((await request(app).get('/tenants').set('x-api-key', `${KEY}x`)).status).toBe(401);
    } finally {
      await deps.store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ KEYPLANE_ADMIN_KEY_SHA256: 'abc' }, 'KEYPLANE_ADMIN_KEY_SHA256: must be 64 hex digits'],
    [
      { KEYPLANE_ADMIN_KEY_SHA256: HASH, KEYPLANE_ADMIN_KEY: KEY },
      'KEYPLANE_ADMIN_KEY_SHA256: set it or KEYPLANE_ADMIN_KEY, not both',
    ],
  ])('refuses %j at start, naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
