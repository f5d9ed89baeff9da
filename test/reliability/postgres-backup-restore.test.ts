import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { populateStore, type KeyRef } from '../helpers/key-population';
import { Client } from 'pg';
import { localCipherFor } from '../../src/keys/local-cipher';
import { openPostgresBackend } from '../../src/store/postgres';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { createApiKey, startServerProcess } from '../helpers/server-process';
import { ADMIN_KEY } from '../helpers/test-app';

/**
 * backup / restore on PostgreSQL: keys issued by a real server, an export while it keeps issuing, restored
 * into a fresh database (and a fresh data dir), served by a new server byte-identical via GET /keys.
 */
const KEYS = 600;
jest.setTimeout(60_000);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pgbackup-'));

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.destroy());

async function keyBytes(port: number, ref: KeyRef, apiKey = ADMIN_KEY): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/keys/${ref.resourceId}/${ref.kid}`, {
    headers: { 'x-api-key': apiKey },
  });
  if (res.status !== 200) throw new Error(`GET /keys/${ref.resourceId}/${ref.kid} answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer()).toString('hex');
}

/** Creates static keys over HTTP, 8 at a time, `count` of them or (count undefined) until stopped. */
function issue(port: number, prefix: string, count?: number): { stop: () => Promise<KeyRef[]> } {
  let running = true;
  let next = 0;
  const made: KeyRef[] = [];
  const worker = async () => {
    for (let i = next++; running && (count === undefined || i < count); i = next++) {
      const res = await fetch(`http://127.0.0.1:${port}/static-keys`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId: `${prefix}-${i}` }),
      });
      if (res.status !== 201) throw new Error(`POST /static-keys answered ${res.status}`);
      made.push((await res.json()) as KeyRef);
    }
  };
  const workers = Promise.all(Array.from({ length: 8 }, worker));
  return {
    stop: async () => {
      running = count !== undefined;
      await workers;
      return made;
    },
  };
}

it('backs up a serving PostgreSQL store; a restored database serves every key byte-identical', async () => {
  const sourceDir = tmp();
  const sourceUrl = await pg.createDatabase();
  const env = (dataDir: string, url: string) => ({
    KEYPLANE_STORE: 'postgres',
    KEYPLANE_DATABASE_URL: url,
    KEYPLANE_DATA_DIR: dataDir,
  });
  const server = await startServerProcess(sourceDir, env(sourceDir, sourceUrl));
  try {
    const refs = await issue(server.port, 'res', KEYS).stop();
    const reader = await createApiKey(server.port, 'reader', ['admin']);

    // Backup while the server keeps issuing keys.
    const load = issue(server.port, 'load');
    await new Promise((r) => setTimeout(r, 200)); // let the load get going: the backup must run during it
    const out = path.join(tmp(), 'keyplane.backup');
    const backup = await runCli(['backup', '--out', out], env(sourceDir, sourceUrl));
    const loaded = await load.stop();
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(
      /^backup written: .* \(\d+ bytes, mode 0600\)\nstore: postgres, \d+ keys, sealed \(local\)\nneeds to restore: master key [0-9a-f]{16} \(\d+ keys\)\n$/,
    );
    expect(backup.stdout).not.toContain(pg.password);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(loaded.length).toBeGreaterThan(0);

    // Restore into a fresh database and data dir; the master key comes from --master-key.
    const targetDir = path.join(tmp(), 'restored');
    const targetUrl = await pg.createDatabase();
    const masterKey = path.join(sourceDir, 'master.key');
    // The wrong master key is refused before anything is written (the real restore below needs no --force).
    const wrongDir = tmp();
    fs.writeFileSync(path.join(wrongDir, 'master.key'), `${crypto.randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    const wrong = await runCli(['restore', out], env(wrongDir, targetUrl));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/cannot open keys of this backup sealed by [0-9a-f]{16}: nothing was written/);
    const restore = await runCli(['restore', out, '--master-key', masterKey], env(targetDir, targetUrl));
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).not.toContain(pg.password);
    const restoredCount = Number(/^restored (\d+) keys/.exec(restore.stdout)?.[1]);
    expect(restoredCount).toBeGreaterThanOrEqual(KEYS);
    expect(restoredCount).toBeLessThanOrEqual(KEYS + loaded.length);

    // A second restore into the now non-empty database is refused; with --force it adds nothing.
    const again = await runCli(['restore', out], env(targetDir, targetUrl));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already holds data: refusing to overwrite it without --force');
    const forced = await runCli(['restore', out, '--force'], env(targetDir, targetUrl));
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/ 0 records \(\d+ already there, 0 of them different: kept\)/);

    const restored = await startServerProcess(targetDir, env(targetDir, targetUrl));
    try {
      for (const ref of refs) expect(await keyBytes(restored.port, ref)).toBe(await keyBytes(server.port, ref));
      // Keys issued during the backup: each one is either in it, identical, or not in it at all.
      let carried = 0;
      for (const ref of loaded) {
        const res = await fetch(`http://127.0.0.1:${restored.port}/keys/${ref.resourceId}/${ref.kid}`, {
          headers: { 'x-api-key': ADMIN_KEY },
        });
        if (res.status === 404) continue;
        expect(Buffer.from(await res.arrayBuffer()).toString('hex')).toBe(await keyBytes(server.port, ref));
        carried++;
      }
      expect(KEYS + carried).toBe(restoredCount);
      // API keys are records too: the one created before the backup works on the restored server.
      expect(await keyBytes(restored.port, refs[0] as KeyRef, reader)).toBe(
        await keyBytes(server.port, refs[0] as KeyRef),
      );
    } finally {
      await restored.kill('SIGTERM');
    }
  } finally {
    await server.kill('SIGTERM');
  }
});

it('a PostgreSQL backup killed with SIGKILL leaves no file a restore would take', async () => {
  const dataDir = tmp();
  const url = await pg.createDatabase();
  const store = openPostgresBackend({ url });
  try {
    await populateStore(store, localCipherFor(dataDir), 50);
  } finally {
    await store.close();
  }
  // Enough audit rows that the export is still scanning when the kill arrives (about 60 pages).
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query(
    "INSERT INTO audit (id, time, resource_id, action, route, outcome, status) SELECT 'bulk-' || g, g, 'res-0', " +
      "'deliver', '/keys', 'allowed', 200 FROM generate_series(1, 30000) AS g",
  );
  await client.end();
  const dir = tmp();
  const out = path.join(dir, 'keyplane.backup');
  const child = spawn(process.execPath, [BIN, 'backup', '--out', out], {
    env: cleanEnv({ KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: url, KEYPLANE_DATA_DIR: dataDir }),
  });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    const watcher = fs.watch(dir, () => {
      if (fs.readdirSync(dir).some((f) => f.startsWith('.keyplane.backup.partial-'))) {
        watcher.close();
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', () => reject(new Error('backup ended before it could be killed')));
  });
  await exited;
  expect(fs.existsSync(out)).toBe(false);
  // The partial file, and possibly its rollback journal (killed inside a page's transaction).
  const partials = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('.keyplane.backup.partial-') && !f.endsWith('-journal'));
  expect(partials.length).toBe(1);
  const target = { KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: await pg.createDatabase() };
  const restore = await runCli(['restore', path.join(dir, partials[0] as string)], {
    ...target,
    KEYPLANE_DATA_DIR: dataDir,
  });
  expect(restore.code).not.toBe(0);
  expect(restore.stderr).toContain('is not a Keyplane backup');
});
