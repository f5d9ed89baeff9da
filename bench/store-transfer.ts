import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { KeyService } from '../src/keys/key-service';
import { LocalEnvelopeCipher, loadOrCreateMasterKey } from '../src/keys/local-cipher';
import { openSqliteBackend } from '../src/store/sqlite';
import { machineInfo } from './report';

// `npm run build && tsc -p bench/tsconfig.json && node dist/bench/store-transfer.js`: fills a SQLite
// store with BENCH_RESOURCES (default 5000) resources of 2 SPEKE keys each, then times, each as its
// own `keyplane` process: `migrate` to a new SQLite dir with another master key (every key opened and
// re-sealed), `migrate --verify` (re-run: all skipped, then every record compared), `export --all`
// encrypted to the test certificate, and `import` of that archive into a fresh store. The baseline is
// copying the store's files (`cp`), the least any copy costs. Median of BENCH_RUNS (default 3).

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/keyplane.js');
const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function seed(dir: string): Promise<void> {
  const store = openSqliteBackend(path.join(dir, 'keyplane.db'));
  const keys = new KeyService(store, new LocalEnvelopeCipher(loadOrCreateMasterKey(dir)), 3600);
  for (let i = 0; i < RESOURCES; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, RESOURCES - i) }, (_, j) =>
        keys.issue({
          resourceId: `movie-${i + j}`,
          owner: 'bench',
          tenant: '*',
          keys: [{ kid: crypto.randomUUID() }, { kid: crypto.randomUUID() }],
          rotating: false,
        }),
      ),
    );
  }
  await store.close();
}

function timed(args: string[], env: Record<string, string>): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`keyplane ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-bench-transfer-'));
  const src = path.join(work, 'src');
  await seed(src);
  const cert = path.join(ROOT, 'test/fixtures/certs/delivery.pem');
  const key = path.join(ROOT, 'test/fixtures/certs/delivery-key.pem');
  const rows: Record<string, number[]> = {
    copy: [],
    migrate: [],
    'migrate again + verify': [],
    export: [],
    import: [],
  };
  for (let r = 0; r < RUNS; r++) {
    const dst = path.join(work, `dst-${r}`);
    const started = performance.now();
    spawnSync('cp', ['-r', src, path.join(work, `copy-${r}`)]);
    rows.copy?.push(performance.now() - started);
    const cp = path.join(work, `cp-${r}.json`);
    rows.migrate?.push(timed(['migrate', '--from', `sqlite:${src}`, '--to', `sqlite:${dst}`, '--checkpoint', cp], {}));
    rows['migrate again + verify']?.push(
      timed(['migrate', '--from', `sqlite:${src}`, '--to', `sqlite:${dst}`, '--checkpoint', cp, '--verify'], {}),
    );
    const out = path.join(work, `archive-${r}`);
    rows.export?.push(timed(['export', '--all', '--cert', cert, '--out', out], { KEYPLANE_DATA_DIR: src }));
    rows.import?.push(timed(['import', out, '--key', key], { KEYPLANE_DATA_DIR: path.join(work, `imported-${r}`) }));
  }
  const keys = RESOURCES * 2;
  const lines = [
    `Store transfer, ${RESOURCES} resources × 2 keys (${keys} keys, ${RESOURCES} leases, owners), median of ${RUNS}`,
    `Machine: ${JSON.stringify(machineInfo())}`,
    '',
    '| operation | median ms | keys/s |',
    '|---|---|---|',
    ...Object.entries(rows).map(
      ([name, xs]) => `| ${name} | ${median(xs).toFixed(0)} | ${((keys * 1000) / median(xs)).toFixed(0)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  fs.rmSync(work, { recursive: true, force: true });
}

void main();
