import autocannon from 'autocannon';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startBaseline, startKeyplane, type ChildServer } from './processes';
import { machineInfo, markdownReport, type RunSettings, type ScenarioResult } from './report';
import { SCENARIOS, scenarioContext, type LoadSpec, type Scenario } from './scenarios';
import { wrkBinary, wrkLoad, type LoadResult } from './wrk';

// `npm run bench`: every scenario against a fresh server process, autocannon on loopback, warm-up then measured.
// Environment: BENCH_QUICK=1 (1 s warm-up, 3 s measured), BENCH_WARMUP / BENCH_DURATION (seconds),
// BENCH_CONNECTIONS, BENCH_ONLY=name,name (see SCENARIOS), BENCH_CPU_PROF=<dir> (run Keyplane with
// `node --cpu-prof`: a folder per scenario there, a .cpuprofile per process and thread), BENCH_OUT=<file> (default bench/results/latest.md),
// BENCH_LOADGEN=wrk (send the load with wrk instead of the in-process autocannon: see bench/wrk.ts).

interface BenchConfig extends RunSettings {
  only?: Set<string>;
  cpuProfDir?: string;
  out: string;
}

function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of seconds, got "${raw}"`);
  return value;
}

function loadgenOf(raw: string | undefined): 'autocannon' | 'wrk' {
  if (raw === undefined || raw === '' || raw === 'autocannon') return 'autocannon';
  if (raw === 'wrk') return 'wrk';
  throw new Error(`BENCH_LOADGEN must be autocannon or wrk, got "${raw}"`);
}

function readConfig(): BenchConfig {
  const quick = process.env.BENCH_QUICK === '1';
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const cpuProf = process.env.BENCH_CPU_PROF;
  return {
    connections: seconds('BENCH_CONNECTIONS', 32),
    warmupSeconds: seconds('BENCH_WARMUP', quick ? 1 : 3),
    durationSeconds: seconds('BENCH_DURATION', quick ? 3 : 10),
    only: only && only.length > 0 ? new Set(only) : undefined,
    cpuProfDir: cpuProf ? path.resolve(cpuProf) : undefined,
    out: path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, 'bench/results/latest.md')),
    loadgen: loadgenOf(process.env.BENCH_LOADGEN),
  };
}

async function startServer(scenario: Scenario, adminKey: string, config: BenchConfig): Promise<ChildServer> {
  if (scenario.target === 'baseline') return startBaseline();
  const setupEnv = scenario.serverSetup ? await scenario.serverSetup() : {};
  // A folder per run with Node's own file names (process and thread ids): with --workers, the workers and
  // their threads inherit the flags, and one fixed name had every process overwrite the same file.
  const nodeArgs = config.cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(config.cpuProfDir, `${scenario.name}-${Date.now()}`)}`]
    : [];
  return startKeyplane({ adminKey, env: { ...scenario.serverEnv, ...setupEnv }, nodeArgs, workers: scenario.workers });
}

/** One load run; autocannon runs in this process, so its CPU time is this process's. */
async function load(
  server: ChildServer,
  spec: LoadSpec,
  config: BenchConfig,
  duration: number,
  warmup?: LoadResult,
): Promise<LoadResult> {
  if (config.loadgen === 'wrk') {
    const rate =
      warmup && warmup.duration > 0 ? (2 * (warmup['2xx'] + warmup.non2xx)) / warmup.duration + 500 : undefined;
    return wrkLoad(server.baseUrl, spec, config.connections, duration, rate);
  }
  const before = process.cpuUsage();
  const result = await autocannon({ url: server.baseUrl, connections: config.connections, duration, requests: [spec] });
  const used = process.cpuUsage(before);
  return { ...result, clientCpuMs: (used.user + used.system) / 1000 };
}

async function runScenario(scenario: Scenario, config: BenchConfig): Promise<ScenarioResult> {
  const adminKey = `bench-admin-${crypto.randomBytes(16).toString('hex')}`;
  const server = await startServer(scenario, adminKey, config);
  try {
    const ctx = scenarioContext(server.baseUrl, adminKey);
    const spec = await scenario.prepare(ctx);
    const warmup = config.warmupSeconds > 0 ? await load(server, spec, config, config.warmupSeconds) : undefined;
    const cpuBefore = server.cpuMs();
    const measured = await load(server, spec, config, config.durationSeconds, warmup);
    const cpuAfter = server.cpuMs();
    const peak = server.peakRssKib();
    const responses = measured['2xx'] + measured.non2xx;
    return {
      name: scenario.name,
      title: scenario.title,
      reqPerSec: measured['2xx'] / measured.duration,
      p50Ms: measured.latency.p50,
      p99Ms: measured.latency.p99,
      failures: measured.non2xx + measured.errors + measured.timeouts,
      peakRssMib: peak === undefined ? undefined : peak / 1024,
      cpuUsPerReq:
        cpuBefore === undefined || cpuAfter === undefined || responses === 0
          ? undefined
          : ((cpuAfter - cpuBefore) * 1000) / responses,
      clientCpuUsPerReq:
        measured.clientCpuMs === undefined || responses === 0 ? undefined : (measured.clientCpuMs * 1000) / responses,
      notes: scenario.notes ? await scenario.notes(ctx, measured) : undefined,
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  if (config.loadgen === 'wrk') wrkBinary();
  const scenarios = SCENARIOS.filter((s) => !config.only || config.only.has(s.name));
  if (scenarios.length === 0) throw new Error(`BENCH_ONLY matched no scenario (have: ${SCENARIOS.map((s) => s.name)})`);
  if (config.cpuProfDir) fs.mkdirSync(config.cpuProfDir, { recursive: true });
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    process.stderr.write(`bench: ${scenario.name} …\n`);
    results.push(await runScenario(scenario, config));
  }
  const report = markdownReport(results, config, machineInfo());
  fs.mkdirSync(path.dirname(config.out), { recursive: true });
  fs.writeFileSync(config.out, report);
  process.stdout.write(`${report}\nWritten to ${path.relative(process.cwd(), config.out)}\n`);
  if (results.some((r) => r.failures > 0)) process.stderr.write('bench: some requests failed; see the table.\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
