import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { DIST_SERVER, ROOT } from '../helpers/paths';
import { masterKeyFingerprint } from '../../src/keys/master-key-ring';
import { freePort } from '../helpers/server-process';
import { makeTestApp } from '../helpers/test-app';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-start-'));

/** Starts the compiled server and resolves with what it printed once it listens. */
function startOnce(env: Record<string, string>): Promise<{ stderr: string; kill: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DIST_SERVER], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('keyplane listening'))
        setTimeout(() => resolve({ stderr, kill: () => child.kill('SIGKILL') }), 100);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
}

describe('standalone server start', () => {
  it('stops with exit code 2 and names the variable on bad config', () => {
    const res = spawnSync(process.execPath, [DIST_SERVER], {
      env: { ...process.env, KEYPLANE_PORT: 'abc' },
      encoding: 'utf8',
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('configuration error: KEYPLANE_PORT: must be an integer, got "abc"');
  });

  it('refuses to start, and makes no new master key, when master.key is gone but keys are stored', async () => {
    const dataDir = tmp();
    const t = await makeTestApp({ KEYPLANE_DATA_DIR: dataDir });
    await t.deps.staticKeys.create({ resourceId: 'kept' }, 'default');
    await t.close();
    const keyFile = path.join(dataDir, 'master.key');
    const fingerprint = masterKeyFingerprint(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64'));
    fs.rmSync(keyFile);
    const res = spawnSync(process.execPath, [DIST_SERVER], {
      env: { ...process.env, KEYPLANE_DATA_DIR: dataDir, KEYPLANE_PORT: String(await freePort()) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(
      `configuration error: KEYPLANE_DATA_DIR: ${keyFile} is missing, but the store holds keys sealed with a ` +
        `master key (fingerprint ${fingerprint}); put that master.key back`,
    );
    expect(fs.existsSync(keyFile)).toBe(false);
  });

  it('prints a generated admin key once, stores only its hash, and it works', async () => {
    const dataDir = tmp();
    const port = await freePort();
    const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_PORT: String(port) };
    const first = await startOnce(env);
    const key = /\n {2}(kp_[0-9a-f]{16}_[A-Za-z0-9_-]{43})\n/.exec(first.stderr)?.[1];
    expect(key).toBeDefined();
    const res = await fetch(`http://127.0.0.1:${port}/api-keys`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    // Its creation is in the audit trail like any API key's, under `*` (no tenant admin sees it).
    const audit = await fetch(`http://127.0.0.1:${port}/audit`, { headers: { authorization: `Bearer ${key}` } });
    const records = ((await audit.json()) as { records: Array<Record<string, unknown>> }).records;
    expect(records.filter((r) => r.action === 'grant')).toEqual([
      expect.objectContaining({
        route: 'keyplane serve',
        resourceId: `apikey:${(key as string).split('_')[1]}`,
        principal: 'keyplane',
        tenant: '*',
        status: 201,
      }),
    ]);
    expect(JSON.stringify(records)).not.toContain((key as string).split('_').slice(2).join('_'));
    first.kill();
    const db = fs.readFileSync(path.join(dataDir, 'keyplane.db'));
    const wal = fs.existsSync(path.join(dataDir, 'keyplane.db-wal'))
      ? fs.readFileSync(path.join(dataDir, 'keyplane.db-wal'))
      : Buffer.alloc(0);
    // The whole secret: base64url may itself hold `_`, and a fragment of a few bytes can turn up in any file.
    const secret = (key as string).split('_').slice(2).join('_');
    expect(secret).toHaveLength(43);
    expect(db.includes(secret) || wal.includes(secret)).toBe(false);
    const second = await startOnce({ ...env, KEYPLANE_PORT: String(await freePort()) });
    expect(second.stderr).not.toContain('kp_');
    second.kill();
  });

  describe('on a port that is already taken', () => {
    let holder: net.Server;
    let port: number;
    beforeAll(async () => {
      holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
      port = (holder.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

    const commands: Array<[string, (dataDir: string) => string[]]> = [
      ['node dist/src/server.js', () => [DIST_SERVER]],
      ['keyplane serve', (dataDir) => [path.join(ROOT, 'bin/keyplane.js'), 'serve', '--data-dir', dataDir]],
    ];
    it.each(commands)('%s exits 1 naming the port and creates nothing', (_name, args) => {
      const dataDir = path.join(tmp(), 'new-data');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        KEYPLANE_DATA_DIR: dataDir,
        KEYPLANE_PORT: String(port),
        KEYPLANE_HOST: '127.0.0.1',
      };
      delete env.KEYPLANE_ADMIN_KEY;
      const res = spawnSync(process.execPath, args(dataDir), { env, encoding: 'utf8', timeout: 30_000 });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain(`port ${port} is in use`);
      expect(res.stderr).not.toContain('kp_');
      expect(res.stderr).not.toContain('listening');
      expect(fs.existsSync(dataDir) ? fs.readdirSync(dataDir) : []).toEqual([]);
    });
  });
});
