import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { localCipherFor } from '../../src/keys/local-cipher';
import type { EnvelopeCipher } from '../../src/keys/envelope-cipher';
import type { Backend } from '../../src/store/backend';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { openSqliteBackend } from '../../src/store/sqlite';
import { runCli } from '../e2e/cli-process';
import { populateStore, type KeyRef } from '../helpers/key-population';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startMoto } from '../helpers/moto';
import { ADMIN_KEY } from '../helpers/test-app';

/** backup / restore / rotate-master-key against DynamoDB and KMS in moto. */
let endpoint: string;
const CONTEXT = { app: 'keyplane', deployment: 'keyplane' };
const drops: Array<() => Promise<void>> = [];

beforeAll(() => {
  endpoint = startMoto();
}, 300_000);

afterAll(async () => {
  for (const drop of drops) await drop();
});

const awsEnv = () => ({
  KEYPLANE_ADMIN_KEY: ADMIN_KEY,
  KEYPLANE_AWS_ENDPOINT: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

async function openAll(store: Backend, cipher: EnvelopeCipher, refs: KeyRef[]): Promise<string[]> {
  const found = await store.keys.get(refs.map((r) => r.kid));
  return Promise.all(
    refs.map(async (r) => {
      const k = found.get(r.kid);
      if (!k) throw new Error(`key ${r.kid} missing`);
      return (await cipher.open(k.sealed, { resourceId: k.resourceId, kid: k.kid })).toString('hex');
    }),
  );
}

it('moves every key to a new KMS key when KEYPLANE_KMS_KEY_ID changes (format-1 values included)', async () => {
  const [keyA, keyB] = [await createKmsKey(endpoint), await createKmsKey(endpoint)];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-kms-rotate-'));
  const file = path.join(dataDir, 'keyplane.db');
  const cipherA = new KmsEnvelopeCipher(kmsClient(endpoint), { keyId: keyA, encryptionContext: CONTEXT });
  let store = openSqliteBackend(file);
  const refs = await populateStore(store, cipherA, 30, 'kms');
  // Make one value format 1 (no key ARN), as stored before key ids.
  const first = (await store.keys.get([refs[0]?.kid ?? '']).then((m) => [...m.values()]))[0];
  const before = await openAll(store, cipherA, refs);
  await store.close();
  if (!first) throw new Error('no key');
  const arnLength = first.sealed.readUInt8(1);
  const legacy = Buffer.concat([Buffer.of(1), first.sealed.subarray(2 + arnLength)]);
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(file);
  db.prepare('UPDATE keys SET sealed = ? WHERE kid = ?').run(legacy, first.kid);
  db.close();

  const env = { ...awsEnv(), KEYPLANE_DATA_DIR: dataDir, KEYPLANE_KMS_KEY_ID: keyB };
  // Before the re-wrap, a cipher configured with key B still opens keys sealed under A.
  const cipherB = new KmsEnvelopeCipher(kmsClient(endpoint), { keyId: keyB, encryptionContext: CONTEXT });
  store = openSqliteBackend(file);
  expect(await openAll(store, cipherB, refs)).toEqual(before);
  await store.close();

  const run = await runCli(['rotate-master-key'], env);
  expect(run.stderr).not.toMatch(/Error/);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(
    new RegExp(`^re-wrapped 30 of 30 keys under arn:aws:kms:us-east-1:\\d+:key/${keyB}$`, 'm'),
  );
  expect(run.stdout).toContain('no stored key needs another KMS key');
  const status = await runCli(['rotate-master-key', '--status', '--json'], env);
  const sealedBy = (JSON.parse(status.stdout) as { sealedBy: Record<string, number> }).sealedBy;
  expect(Object.entries(sealedBy)).toEqual([[expect.stringMatching(new RegExp(`:key/${keyB}$`)), 30]]);
  store = openSqliteBackend(file);
  expect(await openAll(store, cipherB, refs)).toEqual(before);
  await store.close();
});

it('backs up a DynamoDB table, restores it into an empty one, and re-wraps it under a new master key', async () => {
  const source = await freshTable(endpoint);
  const target = await freshTable(endpoint);
  drops.push(source.drop, target.drop);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-ddb-backup-'));
  const cipher = localCipherFor(dataDir);
  const sourceStore = dynamoDbBackend(dynamoClient(endpoint, true), source.table);
  const refs = await populateStore(sourceStore, cipher, 40, 'ddb', 4);
  const before = await openAll(sourceStore, cipher, refs);
  await sourceStore.close();

  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-ddb-out-')), 'table.backup');
  const env = (table: string) => ({
    ...awsEnv(),
    KEYPLANE_STORE: 'dynamodb',
    KEYPLANE_TABLE: table,
    KEYPLANE_DATA_DIR: dataDir,
  });
  const backup = await runCli(['backup', '--out', out], env(source.table));
  expect(backup.code).toBe(0);
  expect(backup.stdout).toMatch(/^store: dynamodb, 40 keys, sealed \(local\)$/m);
  expect(fs.statSync(out).mode & 0o777).toBe(0o600);

  const restore = await runCli(['restore', out], env(target.table));
  expect(restore.code).toBe(0);
  expect(restore.stdout).toMatch(/^restored 40 keys and \d+ items into table /);
  const again = await runCli(['restore', out], env(target.table));
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('already holds data: refusing to overwrite it without --force');

  // No server serves this table, so nothing can commit a key sealed before the swap: no settle time.
  const rotate = await runCli(['rotate-master-key', '--settle-seconds', '0'], env(target.table));
  expect(rotate.code).toBe(0);
  expect(rotate.stdout).toMatch(/^re-wrapped 40 of 40 keys under [0-9a-f]{16}$/m);
  expect(rotate.stdout).toMatch(/^retired master key [0-9a-f]{16}: no stored key needs it/m);
  const targetStore = dynamoDbBackend(dynamoClient(endpoint, true), target.table);
  expect(await openAll(targetStore, localCipherFor(dataDir), refs)).toEqual(before);
  await targetStore.close();

  // The backup was sealed by the retired key: a restore with only the new key refuses, writing nothing.
  const empty = await freshTable(endpoint);
  drops.push(empty.drop);
  const refused = await runCli(['restore', out], env(empty.table));
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/cannot open keys of this backup sealed by [0-9a-f]{16}: nothing was written/);
});
