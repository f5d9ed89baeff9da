import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import {
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { BuildOptions } from 'esbuild';
import { build } from 'esbuild';
import { ensureTable } from '../src/store/dynamodb';
import { assumedRoleCaller, restApiEvent } from '../test/helpers/api-gateway-event';
import { machineInfo } from './report';

// `npm run bench:lambda`: bundles src/lambda.ts exactly as `serverless package` does (esbuild.lambda.js),
// reports bundle and zip sizes, then measures cold starts: a fresh `node` process per run that requires
// the bundle and answers one SPEKE v1 request for a new resource ID (lease, new key, KMS data key,
// DynamoDB transaction) against moto. Cold start = wall time from spawn to the response; median of
// BENCH_RUNS (default 11) per variant, variants interleaved so a busy machine hits them alike.
// BENCH_OUT=<file> also writes the markdown there (default bench/results/lambda-bundle.md).
// BENCH_CPU_PROF=<dir> adds a variant run under `node --cpu-prof` that leaves one .cpuprofile per cold start there.

const ROOT = path.resolve(__dirname, '../..');
/** moto-server from the workplace's shared folder (found as the tests find it: scripts/shared-dir.js). */
const { sharedDir } = require(path.join(ROOT, 'scripts/shared-dir.js')) as { sharedDir: () => string };
const MOTO = path.join(sharedDir(), 'tools/moto-server');
const REGION = 'us-east-1';
const TARGET_ZIP_BYTES = 1.5 * 1024 * 1024;
const TARGET_COLD_START_MS = 200;
const PACKAGED = ['src/lambda.js', 'src/lambda.js.map', 'openapi/openapi.yaml'];

const esbuildConfig = require(path.join(ROOT, 'esbuild.lambda.js')) as { ESBUILD_OPTIONS: BuildOptions };

/** The build options shipped before the cold-start work (commit 498c508), for comparison: AWS SDK from the runtime
 * (CommonJS, not tree-shaken), identifiers minified, `keepNames`; it ran with `--enable-source-maps`. */
const PREVIOUS_BUILD: BuildOptions = {
  external: ['@aws-sdk/*', 'better-sqlite3'],
  mainFields: ['main', 'module'],
  minify: true,
  keepNames: true,
};

/** Node options the function runs with: `NODE_OPTIONS` in serverless.yml, if set. */
function deployedNodeFlags(): string[] {
  const yml = fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8');
  const value = /^\s+NODE_OPTIONS:\s*(.+)$/m.exec(yml)?.[1]?.trim();
  return value ? value.split(/\s+/) : [];
}

/** One way of building and starting the function. */
interface Variant {
  label: string;
  dir: string;
  nodeFlags: string[];
}

/** What one cold-start child reports about itself (ms since its process started). */
interface ChildTimings {
  status: number;
  bootMs: number;
  requireMs: number;
  firstResponseMs: number;
  warmResponseMs: number;
  /** Main-thread CPU time from process start to the first response (Linux schedstat), or -1. */
  mainThreadCpuMs: number;
}

interface ColdStart extends ChildTimings {
  wallMs: number;
}

interface AwsEnvironment {
  env: Record<string, string>;
  endpoint: string;
  table: string;
  keyId: string;
}

/** Bundles src/lambda.ts into `dir` as serverless-esbuild does, plus the OpenAPI file the package carries. */
async function bundle(dir: string, overrides: BuildOptions = {}): Promise<void> {
  const outfile = path.join(dir, 'src/lambda.js');
  const entryPoints = [path.join(ROOT, 'src/lambda.ts')];
  await build({ ...esbuildConfig.ESBUILD_OPTIONS, ...overrides, entryPoints, outfile, logLevel: 'error' });
  fs.mkdirSync(path.join(dir, 'openapi'));
  fs.copyFileSync(path.join(ROOT, 'openapi/openapi.yaml'), path.join(dir, 'openapi/openapi.yaml'));
}

/** Zip size as `serverless package` ships it (deflate, default level): the zip CLI, else zlib per file. */
function zipBytes(dir: string): { bytes: number; tool: string } {
  if (spawnSync('zip', ['-v'], { stdio: 'ignore' }).status === 0) {
    const zipFile = path.join(dir, 'lambda.zip');
    execFileSync('zip', ['-q', '-X', zipFile, ...PACKAGED], { cwd: dir });
    return { bytes: fs.statSync(zipFile).size, tool: 'zip CLI' };
  }
  const headers = PACKAGED.reduce((sum, f) => sum + 30 + 46 + 2 * f.length, 22);
  const data = PACKAGED.reduce((sum, f) => sum + zlib.deflateRawSync(fs.readFileSync(path.join(dir, f))).length, 0);
  return { bytes: headers + data, tool: 'zlib estimate' };
}

const fileBytes = (dir: string, file: string) => fs.statSync(path.join(dir, file)).size;

/** moto endpoint plus a fresh table and KMS key: the environment a deployed function would have. */
async function awsEnvironment(): Promise<AwsEnvironment> {
  const endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const credentials = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: REGION };
  Object.assign(process.env, credentials);
  const table = `keyplane-bench-${crypto.randomUUID()}`;
  const dynamo = new DynamoDBClient({ region: REGION, endpoint });
  await ensureTable(dynamo, table);
  dynamo.destroy();
  const kms = new KMSClient({ region: REGION, endpoint });
  const keyId =
    (await kms.send(new CreateKeyCommand({ Description: 'keyplane lambda bench' }))).KeyMetadata?.KeyId ?? '';
  kms.destroy();
  const env = {
    ...credentials,
    KEYPLANE_STORE: 'dynamodb',
    KEYPLANE_TABLE: table,
    KEYPLANE_KMS_KEY_ID: keyId,
    KEYPLANE_AWS_ENDPOINT: endpoint,
    KEYPLANE_PUBLIC_URL: 'https://kp7x2abcde.execute-api.us-east-1.amazonaws.com/prod',
    KEYPLANE_LOG_LEVEL: 'warn',
  };
  return { env, endpoint, table, keyId };
}

async function deleteTable(aws: AwsEnvironment): Promise<void> {
  const dynamo = new DynamoDBClient({ region: REGION, endpoint: aws.endpoint });
  await dynamo.send(new DeleteTableCommand({ TableName: aws.table })).catch(() => undefined);
  dynamo.destroy();
}

/** Median latency of the calls a new SPEKE issuance makes, as moto answers them (part of every cold start). */
async function motoLatencies(aws: AwsEnvironment): Promise<Record<string, number>> {
  const dynamo = new DynamoDBClient({ region: REGION, endpoint: aws.endpoint });
  const kms = new KMSClient({ region: REGION, endpoint: aws.endpoint });
  const key = () => ({ pk: { S: `BENCH#${crypto.randomUUID()}` }, sk: { S: 'BENCH' } });
  const calls: Record<string, () => Promise<unknown>> = {
    GetItem: () => dynamo.send(new GetItemCommand({ TableName: aws.table, Key: key(), ConsistentRead: true })),
    TransactWriteItems: () =>
      dynamo.send(
        new TransactWriteItemsCommand({ TransactItems: [{ ConditionCheck: conditionCheck(aws.table, key()) }] }),
      ),
    GenerateDataKey: () => kms.send(new GenerateDataKeyCommand({ KeyId: aws.keyId, KeySpec: 'AES_256' })),
  };
  const out: Record<string, number> = {};
  for (const [name, call] of Object.entries(calls)) {
    await call();
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      await call().catch(() => undefined);
      times.push(performance.now() - started);
    }
    out[name] = median(times);
  }
  dynamo.destroy();
  kms.destroy();
  return out;
}

function conditionCheck(table: string, key: Record<string, { S: string }>) {
  return { TableName: table, Key: key, ConditionExpression: 'attribute_not_exists(pk)' };
}

function spekeEventFile(dir: string): string {
  const kid = crypto.randomUUID();
  const resourceId = `bench-${crypto.randomUUID()}`;
  const body =
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">` +
    `<cpix:ContentKeyList><cpix:ContentKey kid="${kid}"/></cpix:ContentKeyList>` +
    `<cpix:DRMSystemList><cpix:DRMSystem kid="${kid}" systemId="81376844-f976-481e-a84e-cc25d39b0b33">` +
    '<cpix:URIExtXKey/><speke:KeyFormat/><speke:KeyFormatVersions/></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>';
  const iam = assumedRoleCaller('KeyplaneMediaConvert-bench');
  const headers = { 'Content-Type': 'application/xml' };
  const file = path.join(dir, 'event.json');
  fs.writeFileSync(file, JSON.stringify(restApiEvent({ method: 'POST', path: '/copyProtection', iam, headers, body })));
  return file;
}

/**
 * The cold-start child: require the bundle, answer one event (and say so on stdout at once), then the same
 * event again (warm), then its own timings as a JSON line.
 */
const CHILD = `
const { performance } = require('node:perf_hooks');
const fs = require('node:fs');
const boot = performance.now();
const { handler } = require(process.argv[1]);
const required = performance.now();
const event = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const cpuMs = () => {
  try { return Number(fs.readFileSync('/proc/self/task/' + process.pid + '/schedstat', 'utf8').split(' ')[0]) / 1e6; }
  catch { return -1; }
};
(async () => {
  const first = await handler(event, {});
  const answered = performance.now();
  const mainThreadCpuMs = cpuMs();
  fs.writeSync(1, 'answered\\n'); // the parent stops its clock here, before the warm repeat
  await handler(event, {});
  const warm = performance.now() - answered;
  process.stdout.write(JSON.stringify({ status: first.statusCode, bootMs: boot, requireMs: required - boot,
    firstResponseMs: answered - required, warmResponseMs: warm, mainThreadCpuMs }) + '\\n', () => process.exit(0));
})();
`;

/** One cold start: spawn → first response line on stdout, plus the child's own breakdown. */
function coldStart(variant: Variant, eventFile: string, env: Record<string, string>): Promise<ColdStart> {
  const args = [...variant.nodeFlags, '-e', CHILD, path.join(variant.dir, 'src/lambda.js'), eventFile];
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, args, {
    cwd: variant.dir,
    // Lambda resolves the AWS SDK from the runtime's NODE_PATH; here it comes from the repository.
    env: { PATH: process.env.PATH ?? '', NODE_PATH: path.join(ROOT, 'node_modules'), NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let wallMs: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const lines = out.split('\n');
      if (wallMs === undefined && lines.length > 1) wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (lines.length > 2 && wallMs !== undefined) {
        resolve({ ...(JSON.parse(lines[1] as string) as ChildTimings), wallMs });
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (out.split('\n').length <= 2) reject(new Error(`cold-start child exited with ${code} before answering`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** `runs` cold starts of every variant, interleaved; each run answers a new resource ID. */
async function coldStarts(variants: Variant[], aws: AwsEnvironment, runs: number): Promise<Map<Variant, ColdStart[]>> {
  const results = new Map<Variant, ColdStart[]>(variants.map((v) => [v, []]));
  for (let i = 0; i < runs; i++) {
    for (const variant of variants) {
      const result = await coldStart(variant, spekeEventFile(variant.dir), aws.env);
      if (result.status !== 200) throw new Error(`cold-start SPEKE request answered ${result.status}`);
      results.get(variant)?.push(result);
    }
  }
  return results;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;
const verdict = (ok: boolean) => (ok ? 'within target' : '**over target**');
const load = () => os.loadavg()[0]?.toFixed(2) ?? '?';

function coldStartRow(label: string, runs: ColdStart[]): string {
  const pick = (f: (r: ColdStart) => number) => ms(median(runs.map(f)));
  const cpu = runs.some((r) => r.mainThreadCpuMs < 0) ? 'n/a' : pick((r) => r.mainThreadCpuMs);
  return (
    `| ${label} | **${pick((r) => r.wallMs)}** | ${pick((r) => r.bootMs)} | ${pick((r) => r.requireMs)} | ` +
    `${pick((r) => r.firstResponseMs)} | ${cpu} | ${pick((r) => r.warmResponseMs)} |`
  );
}

interface Measured {
  shipped: string;
  previous: string;
  zipTool: string;
  zip: number;
  zipPrevious: number;
  results: Map<Variant, ColdStart[]>;
  moto: Record<string, number>;
  loadBefore: string;
  loadAfter: string;
}

function report(m: Measured, variants: Variant[]): string {
  const info = machineInfo();
  const shipped = variants[0] as Variant;
  const cold = median((m.results.get(shipped) ?? []).map((r) => r.wallMs));
  const moto = Object.entries(m.moto)
    .map(([name, t]) => `${name} ${ms(t)}`)
    .join(', ');
  return [
    `Command: \`npm run bench:lambda\` · ${info.date.slice(0, 16).replace('T', ' ')} UTC · commit ${info.commit} · ` +
      `${info.cpuModel}, ${info.cpus} vCPU, ${info.memoryGib} GiB · Node ${info.node} · ${info.os} · ` +
      `load average ${m.loadBefore} → ${m.loadAfter}`,
    '',
    '| Artifact | Size |',
    '|---|---:|',
    `| \`src/lambda.js\` (AWS SDK bundled, identifiers not minified) | ${kib(fileBytes(m.shipped, 'src/lambda.js'))} |`,
    `| \`src/lambda.js.map\` (no sources embedded) | ${kib(fileBytes(m.shipped, 'src/lambda.js.map'))} |`,
    `| zip: bundle + map + openapi.yaml (${m.zipTool}) | **${kib(m.zip)}** — target ≤ 1536 KiB: ${verdict(m.zip <= TARGET_ZIP_BYTES)} |`,
    `| for comparison, previous build options: bundle / zip | ${kib(fileBytes(m.previous, 'src/lambda.js'))} / ${kib(m.zipPrevious)} |`,
    '',
    `Cold start as deployed, median of ${(m.results.get(shipped) ?? []).length} fresh processes (spawn → first SPEKE ` +
      `response): **${ms(cold)}** — target ≤ ${TARGET_COLD_START_MS} ms: ${verdict(cold <= TARGET_COLD_START_MS)}`,
    '',
    '| Variant | spawn → response | node boot | require bundle | first request | main-thread CPU | warm repeat |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...variants.map((v) => coldStartRow(v.label, m.results.get(v) ?? [])),
    '',
    `Main-thread CPU is the process's own CPU time up to the first response (from \`/proc\` schedstat): unlike the ` +
      'wall times, it barely moves when other work shares the machine. ' +
      `moto's own latency per call (median of 7, part of "first request"): ${moto}.`,
    '',
  ].join('\n');
}

async function measure(runs: number, variants: Variant[], previousDir: string): Promise<Measured> {
  const shipped = (variants[0] as Variant).dir;
  await bundle(shipped);
  await bundle(previousDir, PREVIOUS_BUILD);
  const zip = zipBytes(shipped);
  const aws = await awsEnvironment();
  try {
    const loadBefore = load();
    const moto = await motoLatencies(aws);
    const results = await coldStarts(variants, aws, runs);
    const loadAfter = load();
    const zipPrevious = zipBytes(previousDir).bytes;
    return {
      shipped,
      previous: previousDir,
      zipTool: zip.tool,
      zip: zip.bytes,
      zipPrevious,
      results,
      moto,
      loadBefore,
      loadAfter,
    };
  } finally {
    await deleteTable(aws);
  }
}

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 11);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-lambda-bench-'));
  const dir = (name: string) => {
    fs.mkdirSync(path.join(work, name));
    return path.join(work, name);
  };
  const shipped = dir('shipped');
  const previous = dir('previous');
  const deployed = deployedNodeFlags();
  const flags = (f: string[]) => (f.length ? `\`${f.join(' ')}\`` : 'no Node options');
  const variants: Variant[] = [
    { label: `as deployed (${flags(deployed)})`, dir: shipped, nodeFlags: deployed },
    { label: 'same bundle, `--enable-source-maps` (for debugging)', dir: shipped, nodeFlags: ['--enable-source-maps'] },
    {
      label: 'previous build options, `--enable-source-maps` (as shipped before)',
      dir: previous,
      nodeFlags: ['--enable-source-maps'],
    },
  ];
  const profileDir = process.env.BENCH_CPU_PROF;
  if (profileDir) {
    // An extra variant, so profiling overhead never reaches the figures above: one .cpuprofile per cold start.
    const profiled = [...deployed, '--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`];
    variants.push({ label: 'as deployed, under `--cpu-prof`', dir: shipped, nodeFlags: profiled });
  }
  try {
    const markdown = report(await measure(runs, variants, previous), variants);
    process.stdout.write(`${markdown}\n`);
    const out = path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, 'bench/results/lambda-bundle.md'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, markdown);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`lambda-bundle bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
