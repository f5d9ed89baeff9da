import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateTokenKeys } from '../../src/auth/token-keys';
import { loadOrCreateMasterKey } from '../../src/keys/local-cipher';
import { masterKeyFingerprint } from '../../src/keys/master-key-ring';
import { populateDataDir } from '../helpers/key-population';
import { ADMIN_KEY } from '../helpers/test-app';
import { runCli } from './cli-process';

/** The offline operations commands on SQLite: what they print and what they refuse (no server needed). */
const tmp = (p = 'keyplane-ops-') => fs.mkdtempSync(path.join(os.tmpdir(), p));
const env = (dataDir: string) => ({ KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: ADMIN_KEY });

let source: string;
let backup: string;

beforeAll(async () => {
  source = tmp();
  await populateDataDir(source, 25);
  loadOrCreateTokenKeys(source); // what a server creates on first start: carried sealed in the backup
  backup = path.join(tmp(), 'store.backup');
  const run = await runCli(['backup', '--out', backup], env(source));
  expect(run.code).toBe(0);
});

it('backup names the master key it needs and never the key itself; refuses to overwrite a file', async () => {
  const key = loadOrCreateMasterKey(source);
  const json = await runCli(['backup', '--out', path.join(tmp(), 'b'), '--json'], env(source));
  const manifest = JSON.parse(json.stdout) as Record<string, unknown>;
  expect(manifest).toMatchObject({ format: 'keyplane-backup', store: 'sqlite', cipher: 'local', keys: 25 });
  expect(manifest.sealingKey).toBe(masterKeyFingerprint(key));
  expect(manifest.sealedBy).toEqual({ [masterKeyFingerprint(key)]: 25 });
  expect(fs.readFileSync(backup).includes(key)).toBe(false);
  // A plain rollback-journal SQLite file: it opens read-only (archives, read-only media) without -wal/-shm.
  const file = new Database(backup, { readonly: true });
  expect(file.pragma('journal_mode', { simple: true })).toBe('delete');
  file.close();
  expect(fs.readFileSync(backup).toString('latin1')).not.toContain(key.toString('base64'));
  expect(manifest.files).toEqual(['token-keys.json']);
  const tokenSecret = loadOrCreateTokenKeys(source)[0]?.secret as Buffer;
  expect(fs.readFileSync(backup).includes(tokenSecret)).toBe(false);
  expect(fs.readFileSync(backup).toString('latin1')).not.toContain(tokenSecret.toString('base64'));
  const again = await runCli(['backup', '--out', backup], env(source));
  expect([again.code, again.stderr]).toEqual([2, expect.stringContaining('already exists: choose a new file name')]);
  const pg = {
    ...env(tmp()),
    KEYPLANE_STORE: 'postgres',
    KEYPLANE_DATABASE_URL: 'postgres://keyplane@127.0.0.1:1/keyplane',
  };
  // PostgreSQL is handled now (test/reliability/postgres-*.test.ts); a SQLite backup is not restored into it.
  const mismatch = await runCli(['restore', backup], pg);
  expect([mismatch.code, mismatch.stderr]).toEqual([
    2,
    expect.stringContaining(
      'this is a backup of a sqlite store, but KEYPLANE_STORE is postgres (use keyplane migrate)',
    ),
  ]);
  const none = await runCli(['backup', '--out', path.join(tmp(), 'x')], env(tmp()));
  expect([none.code, none.stderr]).toEqual([
    1,
    expect.stringMatching(/no Keyplane store in .* \(.*keyplane.db is missing\)/),
  ]);
});

it('restore refuses a wrong or missing master key and existing data, writing nothing', async () => {
  const empty = path.join(tmp(), 'new');
  const missing = await runCli(['restore', backup], env(empty));
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(`no master key in ${empty}: the backup needs master key `);
  expect(fs.existsSync(empty)).toBe(false);

  const wrong = tmp();
  const wrongKey = masterKeyFingerprint(loadOrCreateMasterKey(wrong));
  const refused = await runCli(['restore', backup], env(wrong));
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(
    new RegExp(
      `the configured master key \\(${wrongKey}\\) cannot open keys of this backup sealed by [0-9a-f]{16}: nothing was written`,
    ),
  );
  expect(fs.readdirSync(wrong)).toEqual(['master.key']);

  const existing = await runCli(['restore', backup], env(source));
  expect([existing.code, existing.stderr]).toEqual([
    1,
    expect.stringContaining('already holds data: refusing to overwrite it without --force'),
  ]);

  const notBackup = path.join(tmp(), 'plain.txt');
  fs.writeFileSync(notBackup, 'hello');
  const bad = await runCli(['restore', notBackup], env(path.join(tmp(), 'n')));
  expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('is not a Keyplane backup')]);
});

it('restore --force replaces a store; the restored files are 0600 and carry the keys and audit', async () => {
  const target = tmp();
  fs.copyFileSync(path.join(source, 'master.key'), path.join(target, 'master.key'));
  fs.chmodSync(path.join(target, 'master.key'), 0o600);
  await populateDataDir(target, 3, 'other');
  const run = await runCli(['restore', backup, '--force'], env(target));
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^restored 25 keys and \d+ audit records into /);
  for (const f of ['keyplane.db', 'keyplane-audit.db'])
    expect(fs.statSync(path.join(target, f)).mode & 0o777).toBe(0o600);
  const db = new Database(path.join(target, 'keyplane.db'), { readonly: true });
  const resources = (db.prepare('SELECT resource_id FROM keys').all() as Array<{ resource_id: string }>).map(
    (r) => r.resource_id,
  );
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
  ).map((r) => r.name);
  db.close();
  expect(resources).toHaveLength(25);
  expect(resources.some((r) => r.startsWith('other'))).toBe(false);
  expect(tables.filter((t) => t.startsWith('keyplane_backup'))).toEqual([]);
  // The playback-token keys came back (sealed in the backup), so tokens minted before still verify.
  expect(fs.readFileSync(path.join(target, 'token-keys.json'), 'utf8')).toBe(
    fs.readFileSync(path.join(source, 'token-keys.json'), 'utf8'),
  );
  expect(fs.statSync(path.join(target, 'token-keys.json')).mode & 0o777).toBe(0o600);
  const status = await runCli(['rotate-master-key', '--status'], env(target));
  expect(status.stdout).toMatch(
    /^sealing key: [0-9a-f]{16}\nkept old master keys: none\nstored keys by sealing key:\n {2}[0-9a-f]{16} \(current\): 25 keys\n$/,
  );
});
