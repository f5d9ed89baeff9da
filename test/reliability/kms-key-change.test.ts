import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { openSqliteBackend } from '../../src/store/sqlite';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { populateStore, type KeyRef } from '../helpers/key-population';
import { createKmsKey, kmsClient, startMoto } from '../helpers/moto';
import { ADMIN_KEY } from '../helpers/test-app';

/** A change of KEYPLANE_KMS_KEY_ID, its re-wrap killed with SIGKILL mid-way: nothing lost, a re-run finishes. */
const KEYS = 3000;
const CONTEXT = { app: 'keyplane', deployment: 'keyplane' };

it('rotate-master-key to a new KMS key killed mid re-wrap loses nothing; re-running finishes', async () => {
  const endpoint = startMoto();
  const [keyA, keyB] = [await createKmsKey(endpoint), await createKmsKey(endpoint)];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-kms-kill-'));
  const file = path.join(dataDir, 'keyplane.db');
  const cipherOf = (keyId: string) =>
    new KmsEnvelopeCipher(kmsClient(endpoint, true), { keyId, encryptionContext: CONTEXT });
  const openAll = async (refs: KeyRef[]) => {
    const store = openSqliteBackend(file);
    const cipher = cipherOf(keyB);
    try {
      const found = await store.keys.get(refs.map((r) => r.kid));
      return await Promise.all(
        refs.map(async (r) => {
          const k = found.get(r.kid);
          if (!k) throw new Error(`key ${r.kid} missing`);
          return (await cipher.open(k.sealed, { resourceId: k.resourceId, kid: k.kid })).toString('hex');
        }),
      );
    } finally {
      await store.close();
    }
  };
  const store = openSqliteBackend(file);
  const refs = await populateStore(store, cipherOf(keyA), KEYS, 'kms');
  await store.close();
  const before = await openAll(refs);

  const env = {
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_KMS_KEY_ID: keyB,
    KEYPLANE_AWS_ENDPOINT: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  const child = spawn(process.execPath, [BIN, 'rotate-master-key'], { env: cleanEnv(env), stdio: 'pipe' });
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
    child.once('exit', () => reject(new Error(`re-wrap ended before it could be killed: ${stderr}`)));
  });
  await new Promise((r) => child.once('exit', r));

  expect(await openAll(refs)).toEqual(before);
  const status = await runCli(['rotate-master-key', '--status', '--json'], env);
  const mid = Object.values((JSON.parse(status.stdout) as { sealedBy: Record<string, number> }).sealedBy);
  expect(mid).toHaveLength(2); // some under A, some under B
  const rerun = await runCli(['rotate-master-key'], env);
  expect(rerun.code).toBe(0);
  expect(rerun.stdout).toContain('no stored key needs another KMS key');
  expect(rerun.stdout).toMatch(new RegExp(`:key/${keyB} \\(current\\): ${KEYS} keys$`, 'm'));
  expect(await openAll(refs)).toEqual(before);
});
