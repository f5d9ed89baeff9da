import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalEnvelopeCipher, loadOrCreateMasterKey, localCipherFor } from '../src/keys/local-cipher';
import { swapInNewMasterKey } from '../src/keys/master-key-rotation';
import { rewrapKeys } from '../src/keys/rewrap';
import { KeyService } from '../src/keys/key-service';
import { StaticKeyService } from '../src/keys/static-key-service';
import { openSqliteBackend } from '../src/store/sqlite';
import { partialName, restoreSqliteStore, sealBackupFile, snapshotSqliteStore } from '../src/store/sqlite/backup-file';
import { SqliteSealedKeyStore } from '../src/store/sqlite/sealed-keys';
import { machineInfo } from './report';

// `npm run bench:operations`: what the master key ring costs on the seal path (baseline: the fixed-key
// cipher as before rotation existed, next to the ring that stats master.key per seal, in one run), and
// how long backup, restore and a full re-wrap take for BENCH_KEYS (default 10000) keys in SQLite.

const KEYS = Number(process.env.BENCH_KEYS ?? 10_000);
const SEALS = 100_000;

async function sealRate(cipher: LocalEnvelopeCipher): Promise<number> {
  const plain = Buffer.alloc(32, 1);
  const start = performance.now();
  for (let i = 0; i < SEALS; i++) await cipher.seal(plain, { resourceId: 'r', kid: `k${i}` });
  return (performance.now() - start) / SEALS;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-ops-'));
  const fixed = new LocalEnvelopeCipher(loadOrCreateMasterKey(dir));
  const ring = localCipherFor(dir);
  const seal = { fixed: [] as number[], ring: [] as number[] };
  for (let round = 0; round < 3; round++) {
    seal.fixed.push(await sealRate(fixed));
    seal.ring.push(await sealRate(ring));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] ?? 0;

  const file = path.join(dir, 'keyplane.db');
  const store = openSqliteBackend(file);
  const statics = new StaticKeyService(store.staticKeys, new KeyService(store, ring, 600), store.resources);
  for (let i = 0; i < KEYS; i += 250) {
    await Promise.all(Array.from({ length: 250 }, (_, j) => statics.create({ resourceId: `r-${i + j}` }, 'default')));
  }
  await store.close();

  const out = path.join(dir, 'bench.backup');
  let t = performance.now();
  const snapshot = partialName(out);
  await snapshotSqliteStore(file, snapshot);
  sealBackupFile(snapshot, out, { format: 'keyplane-backup', bench: true });
  const backupMs = performance.now() - t;
  t = performance.now();
  restoreSqliteStore(out, path.join(dir, 'restored', 'keyplane.db'));
  const restoreMs = performance.now() - t;
  swapInNewMasterKey(dir);
  const keys = new SqliteSealedKeyStore(file);
  t = performance.now();
  const result = await rewrapKeys(keys, localCipherFor(dir));
  const rewrapMs = performance.now() - t;
  await keys.close();

  const m = machineInfo();
  process.stdout.write(
    [
      `machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGib} GiB, node ${m.node}, commit ${m.commit}, ${m.date}`,
      '',
      '| measure | value |',
      '|---|---|',
      `| seal, fixed master key (baseline), µs/seal | ${(median(seal.fixed) * 1000).toFixed(2)} |`,
      `| seal, master key ring (stat of master.key per seal), µs/seal | ${(median(seal.ring) * 1000).toFixed(2)} |`,
      `| backup of ${KEYS} keys (snapshot + audit + manifest), ms | ${backupMs.toFixed(0)} (${fs.statSync(out).size} bytes) |`,
      `| restore of it, ms | ${restoreMs.toFixed(0)} |`,
      `| re-wrap of ${result.scanned} keys under a new master key, ms | ${rewrapMs.toFixed(0)} (${result.rewrapped} re-wrapped) |`,
      '',
    ].join('\n'),
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
