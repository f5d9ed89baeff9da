import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { LocalEnvelopeCipher, localCipherFor } from '../../src/keys/local-cipher';
import { MasterKeyRing, readMasterKeys } from '../../src/keys/master-key-ring';
import { openPostgresBackend } from '../../src/store/postgres';
import { PostgresSealedKeyStore } from '../../src/store/postgres/sealed-keys';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { populateStore } from '../helpers/key-population';
import { createKmsKey, kmsClient, startMoto } from '../helpers/moto';
import { startPostgres, type PostgresServer } from '../helpers/postgres';

/**
 * rotate-master-key on PostgreSQL: the first run only writes the new key; a re-wrap killed with SIGKILL
 * loses nothing; a re-run resumes; another instance that got the new key file opens every key; the old
 * key is deleted only with --retire.
 */
const KEYS = 1000;
jest.setTimeout(60_000);

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.destroy());

async function rows(url: string): Promise<Array<{ kid: string; resource_id: string; sealed: Buffer }>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT kid, resource_id, sealed FROM keys ORDER BY kid')).rows;
  } finally {
    await client.end();
  }
}

/** Every stored key opened with the master keys of `dataDir` as they are on disk now: kid → hex. */
async function openAll(url: string, dataDir: string): Promise<Map<string, string>> {
  const cipher = new LocalEnvelopeCipher(new MasterKeyRing(dataDir));
  const out = new Map<string, string>();
  for (const r of await rows(url)) {
    out.set(r.kid, (await cipher.open(r.sealed, { resourceId: r.resource_id, kid: r.kid })).toString('hex'));
  }
  return out;
}

it('rotation on PostgreSQL: killed mid re-wrap loses nothing, resumes, retires only with --retire', async () => {
  const url = await pg.createDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pgrot-a-'));
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pgrot-b-')); // a second instance's data dir
  const store = openPostgresBackend({ url });
  try {
    await populateStore(store, localCipherFor(dataDir), KEYS);
  } finally {
    await store.close();
  }
  fs.copyFileSync(path.join(dataDir, 'master.key'), path.join(other, 'master.key'));
  const before = await openAll(url, dataDir);
  expect(before.size).toBe(KEYS);
  const oldKey = readMasterKeys(dataDir).current.fingerprint;
  const env = { KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: url, KEYPLANE_DATA_DIR: dataDir };

  // 1. The first run writes the new key and re-wraps nothing: other instances need the file first.
  const first = await runCli(['rotate-master-key'], env);
  expect(first.code).toBe(0);
  const newKey = readMasterKeys(dataDir).current.fingerprint;
  expect(newKey).not.toBe(oldKey);
  expect(first.stdout).toContain(`Copy ${dataDir}/master.${newKey}.key into the data dir of every other instance`);
  expect((await rows(url)).every((r) => r.sealed.subarray(1, 9).toString('hex') === oldKey)).toBe(true);
  fs.copyFileSync(path.join(dataDir, `master.${newKey}.key`), path.join(other, `master.${newKey}.key`));

  // 2. Kill the re-wrap once some keys, not all, are re-wrapped.
  const child = spawn(process.execPath, [BIN, 'rotate-master-key', '--batch', '50'], { env: cleanEnv(env) });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      const m = /re-wrapping: (\d+) keys scanned, (\d+) re-wrapped/.exec(stderr);
      if (m && Number(m[2]) > 0 && Number(m[1]) < KEYS) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`rotation ended before it could be killed: ${stderr}`)));
  });
  await new Promise((r) => child.once('exit', r));
  const mixed = await rows(url);
  const underNew = mixed.filter((r) => r.sealed.subarray(1, 9).toString('hex') === newKey).length;
  expect(underNew).toBeGreaterThan(0);
  expect(underNew).toBeLessThan(KEYS);
  expect(await openAll(url, dataDir)).toEqual(before);
  expect(await openAll(url, other)).toEqual(before); // the other instance, old master.key + new key file

  // 3. A re-run resumes and re-wraps the rest, but keeps the old key (instances may still seal with it).
  const rerun = await runCli(['rotate-master-key'], env);
  expect(rerun.code).toBe(0);
  expect(rerun.stdout).toContain(`resuming: master key ${newKey} seals; still kept: ${oldKey}`);
  expect(rerun.stdout).toContain(`re-wrapped ${KEYS - underNew} of ${KEYS} keys under ${newKey}`);
  expect(rerun.stdout).toContain('PostgreSQL: old master keys kept.');
  expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(true);
  expect(await openAll(url, dataDir)).toEqual(before);
  expect(await openAll(url, other)).toEqual(before);

  // 4. Once every instance has the new master.key, --retire deletes the old key here.
  fs.copyFileSync(path.join(dataDir, `master.${oldKey}.key`), path.join(other, `master.${oldKey}.key`));
  fs.copyFileSync(path.join(dataDir, 'master.key'), path.join(other, 'master.key'));
  // The other instances swapped at times this host cannot see: --retire waits the settle time (1 s here)
  // and re-wraps what they committed meanwhile before it deletes anything.
  const retire = await runCli(['rotate-master-key', '--retire', '--settle-seconds', '1'], env);
  expect(retire.code).toBe(0);
  expect(retire.stderr).toContain('waiting 1 s: other instances may still commit keys sealed with the old key');
  expect(retire.stdout).toContain(`retired master key ${oldKey}: no stored key needs it`);
  expect(retire.stdout).toContain(`  ${newKey} (current): ${KEYS} keys`);
  expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(false);
  expect(await openAll(url, dataDir)).toEqual(before);
  expect(await openAll(url, other)).toEqual(before);
  const audit = await new Client({ connectionString: url });
  await audit.connect();
  const reasons = (await audit.query("SELECT reason FROM audit WHERE action = 'rotate' ORDER BY time")).rows.map(
    (r: { reason: string }) => r.reason,
  );
  await audit.end();
  expect(reasons[0]).toBe(`new master key ${newKey} replaces ${oldKey}`);
  expect(reasons).toContain(`retired master key ${oldKey}: no stored key needs it`);
});

it('PostgresSealedKeyStore pages through every key and swaps only values that still hold what was read', async () => {
  const url = await pg.createDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pgrot-c-'));
  const backend = openPostgresBackend({ url });
  try {
    await populateStore(backend, localCipherFor(dataDir), 25);
  } finally {
    await backend.close();
  }
  const store = new PostgresSealedKeyStore(url);
  try {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.page(cursor, 10);
      seen.push(...page.keys.map((k) => k.kid));
      cursor = page.next;
    } while (cursor !== undefined);
    expect(seen).toEqual((await rows(url)).map((r) => r.kid));
    const [a, b] = (await store.page(undefined, 2)).keys;
    if (!a || !b) throw new Error('expected two keys');
    const stale = { kid: a.kid, expected: Buffer.from('not what is stored'), next: Buffer.from('x') };
    const fresh = { kid: b.kid, expected: b.sealed, next: Buffer.from('new value') };
    expect(await store.replaceSealed([stale, fresh])).toBe(1);
    const after = new Map((await rows(url)).map((r) => [r.kid, r.sealed.toString('latin1')]));
    expect(after.get(a.kid)).toBe(a.sealed.toString('latin1'));
    expect(after.get(b.kid)).toBe('new value');
    expect(await store.replaceSealed([fresh])).toBe(0); // b no longer holds what was read
  } finally {
    await store.close();
  }
});

it('on PostgreSQL, a change of KEYPLANE_KMS_KEY_ID re-wraps every key under the new KMS key', async () => {
  const endpoint = startMoto();
  const [keyA, keyB] = [await createKmsKey(endpoint), await createKmsKey(endpoint)];
  const context = { app: 'keyplane', deployment: 'keyplane' };
  const cipherA = new KmsEnvelopeCipher(kmsClient(endpoint), { keyId: keyA, encryptionContext: context });
  const cipherB = new KmsEnvelopeCipher(kmsClient(endpoint), { keyId: keyB, encryptionContext: context });
  const url = await pg.createDatabase();
  const store = openPostgresBackend({ url });
  try {
    await populateStore(store, cipherA, 30, 'kms');
  } finally {
    await store.close();
  }
  const openWith = async (cipher: KmsEnvelopeCipher) =>
    Promise.all(
      (await rows(url)).map(async (r) =>
        (await cipher.open(r.sealed, { resourceId: r.resource_id, kid: r.kid })).toString('hex'),
      ),
    );
  const before = await openWith(cipherA);
  const env = {
    KEYPLANE_STORE: 'postgres',
    KEYPLANE_DATABASE_URL: url,
    KEYPLANE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pgrot-kms-')),
    KEYPLANE_KMS_KEY_ID: keyB,
    KEYPLANE_AWS_ENDPOINT: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  const run = await runCli(['rotate-master-key'], env);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(
    new RegExp(`^re-wrapped 30 of 30 keys under arn:aws:kms:us-east-1:\\d+:key/${keyB}$`, 'm'),
  );
  expect(run.stdout).toContain('no stored key needs another KMS key');
  expect(await openWith(cipherB)).toEqual(before);
  expect((await rows(url)).every((r) => r.sealed.includes(Buffer.from(keyB)))).toBe(true);
});
