import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readKeyArchive } from '../../src/cpix/key-archive';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { createKmsKey, freshTable, startMoto } from '../helpers/moto';
import { openDataDir, openedKeys, seedStore } from '../helpers/seed-store';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kp-migrate-ddb-'));

interface Report {
  copied: Record<string, number>;
  skipped: Record<string, number>;
  conflicts: unknown[];
  verify?: { checked: Record<string, number>; mismatches: unknown[] };
}

let endpoint: string;
let table: string;
let drop: () => Promise<void>;
let kmsKeyId: string;

beforeAll(async () => {
  endpoint = startMoto();
  ({ table, drop } = await freshTable(endpoint));
  kmsKeyId = await createKmsKey(endpoint);
}, 300_000);

afterAll(async () => drop?.());

const aws = () => ({
  KEYPLANE_AWS_ENDPOINT: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

async function migrate(args: string[]): Promise<Report> {
  const run = await runCli(['migrate', ...args, '--checkpoint', path.join(tmp(), 'cp.json'), '--json'], aws());
  if (run.code !== 0) throw new Error(`migrate exited ${run.code}: ${run.stderr}\n${run.stdout}`);
  return JSON.parse(run.stdout) as Report;
}

it('sqlite → dynamodb (keys re-sealed with KMS) → sqlite: verify passes both ways, every key identical', async () => {
  const [a, c] = [tmp(), tmp()];
  const src = openDataDir(a);
  const kids = await seedStore(src, 4);
  const before = await openedKeys(src, kids);
  await src.store.close();

  const up = await migrate([
    '--from',
    `sqlite:${a}`,
    '--to',
    `dynamodb:${table}`,
    '--to-kms-key-id',
    kmsKeyId,
    '--verify',
  ]);
  expect(up.copied).toEqual({
    resource: 5,
    key: 9,
    staticKey: 1,
    lease: 4,
    apiKey: 1,
    policy: 1,
    revocation: 1,
    audit: 4,
  });
  expect(up.verify?.mismatches).toEqual([]);
  const again = await migrate(['--from', `sqlite:${a}`, '--to', `dynamodb:${table}`, '--to-kms-key-id', kmsKeyId]);
  expect(again.skipped.key).toBe(9);
  expect(again.copied.key).toBe(0);

  const down = await migrate([
    '--from',
    `dynamodb:${table}`,
    '--from-kms-key-id',
    kmsKeyId,
    '--to',
    `sqlite:${c}`,
    '--verify',
  ]);
  expect(down.copied).toEqual(up.copied);
  expect(down.verify?.mismatches).toEqual([]);
  const dst = openDataDir(c);
  expect(await openedKeys(dst, kids)).toEqual(before);
  expect(await dst.store.resources.get('movie-0')).toMatchObject({ tenant: 'acme', kind: 'speke' });
  expect(await dst.store.policies.get('movie-0')).toMatchObject({ allowIps: ['10.0.0.0/8'] });
  expect(await dst.store.staticKeys.get('static-1')).toMatchObject({ kid: kids.get('static-1')?.[0] });
  expect(await dst.store.resources.get('static-1')).toMatchObject({ tenant: 'acme', kind: 'static' });
  await dst.store.close();

  // export --all from DynamoDB: keys gathered in one table scan, the same as the source's.
  const out = path.join(tmp(), 'archive');
  const dynamo = { ...aws(), KEYPLANE_STORE: 'dynamodb', KEYPLANE_TABLE: table, KEYPLANE_KMS_KEY_ID: kmsKeyId };
  const exported = await runCli(['export', '--all', '--plaintext', '--out', out], dynamo);
  expect([exported.code, exported.stderr]).toEqual([0, expect.not.stringContaining('keyplane:') as string]);
  const fromArchive = new Map<string, string>();
  for (const file of fs.readdirSync(out).filter((f) => f.endsWith('.xml'))) {
    for (const k of readKeyArchive(fs.readFileSync(path.join(out, file), 'utf8')).keys) {
      fromArchive.set(k.kid, Buffer.concat([k.key, k.iv as Buffer]).toString('hex'));
    }
  }
  expect(fromArchive).toEqual(before);
});

it('sqlite → dynamodb resumes after kill -9 from its checkpoint; verify passes, no key changed', async () => {
  const { table: fresh, drop: dropFresh } = await freshTable(endpoint);
  try {
    const a = tmp();
    const src = openDataDir(a);
    const kids = await seedStore(src, 40, 2);
    const before = await openedKeys(src, kids);
    await src.store.close();
    const cp = path.join(tmp(), 'cp.json');
    const args = ['migrate', '--from', `sqlite:${a}`, '--to', `dynamodb:${fresh}`, '--to-kms-key-id', kmsKeyId];
    const resumable = [...args, '--checkpoint', cp, '--page-size', '5'];
    const child = spawn(process.execPath, [BIN, ...resumable], { env: cleanEnv(aws()), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, signal) => resolve(signal)));
    while (!fs.existsSync(cp)) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const resumed = await runCli([...resumable, '--verify', '--json'], aws());
    expect(resumed.stderr).toContain('resuming from checkpoint');
    expect(resumed.code).toBe(0);
    const report = JSON.parse(resumed.stdout) as Report;
    expect(report.verify?.mismatches).toEqual([]);
    expect(report.verify?.checked.key).toBe(81);
    const back = tmp();
    await migrate(['--from', `dynamodb:${fresh}`, '--from-kms-key-id', kmsKeyId, '--to', `sqlite:${back}`]);
    const dst = openDataDir(back);
    expect(await openedKeys(dst, kids)).toEqual(before);
    await dst.store.close();
  } finally {
    await dropFresh();
  }
});
