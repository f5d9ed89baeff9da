import autocannon from 'autocannon';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startBaseline, startKeyplane, type ChildServer } from './processes';
import { machineInfo, markdownReport, type RunSettings, type ScenarioResult } from './report';
import { SCENARIOS, scenarioContext, type LoadSpec, type Scenario } from './scenarios';

// `npm run bench`: every scenario against a fresh server process, autocannon on loopback, warm-up then measured.
// Environment: BENCH_QUICK=1 (1 s warm-up, 3 s measured), BENCH_WARMUP / BENCH_DURATION (seconds),
// BENCH_CONNECTIONS, BENCH_ONLY=name,name (see SCENARIOS), BENCH_CPU_PROF=<dir> (run Keyplane with
// `node --cpu-prof` and keep the .cpuprofile files there), BENCH_OUT=<file> (default bench/results/latest.md).

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
  };
}

async function startServer(scenario: Scenario, adminKey: string, config: BenchConfig): Promise<ChildServer> {
  if (scenario.target === 'baseline') return startBaseline();
  const setupEnv = scenario.serverSetup ? await scenario.serverSetup() : {};
  const nodeArgs = config.cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${config.cpuProfDir}`, `--cpu-prof-name=${scenario.name}-${Date.now()}.cpuprofile`]
    : [];
  return startKeyplane({ adminKey, env: { ...scenario.serverEnv, ...setupEnv }, nodeArgs, workers: scenario.workers });
}

function load(server: ChildServer, spec: LoadSpec, connections: number, duration: number) {
  return autocannon({ url: server.baseUrl, connections, duration, requests: [spec] });
}

async function runScenario(scenario: Scenario, config: BenchConfig): Promise<ScenarioResult> {
  const adminKey = `bench-admin-${crypto.randomBytes(16).toString('hex')}`;
  const server = await startServer(scenario, adminKey, config);
  try {
    const ctx = scenarioContext(server.baseUrl, adminKey);
    const spec = await scenario.prepare(ctx);
    if (config.warmupSeconds > 0) await load(server, spec, config.connections, config.warmupSeconds);
    const cpuBefore = server.cpuMs();
    const measured = await load(server, spec, config.connections, config.durationSeconds);
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
      notes: scenario.notes ? await scenario.notes(ctx, measured) : undefined,
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const config = readConfig();
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
