import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startBaseline, startKeyplane, type ChildServer } from './processes';
import { machineInfo } from './report';
import { SCENARIOS, scenarioContext, type LoadSpec, type Scenario } from './scenarios';

// `npm run bench:instructions`: the same scenarios as `npm run bench`, but counting the CPU instructions
// the server executes per request (valgrind's callgrind, user space only) instead of timing them. On a
// shared VM req/s and CPU time move by ±30 % between runs; an instruction count moves by a few percent,
// so a change that costs or saves 5 % of a request shows up. It does not see kernel time (socket writes,
// fsync) or waiting, which `npm run bench` does. Needs valgrind (Debian: `apt-get install valgrind`).
// Environment: BENCH_ONLY=name,name (default: all but SPEKE v2), BENCH_WARMUP_REQUESTS (default 3000),
// BENCH_REQUESTS (default 3000), BENCH_CONNECTIONS (default 32), BENCH_OUT (default
// bench/results/instructions.md), BENCH_CALLGRIND_KEEP=<dir> (keep each scenario's callgrind output there,
// for `callgrind_annotate`).

const DEFAULT_SCENARIOS = ['baseline', 'speke-v1-new', 'speke-v1-repeat', 'key-get', 'static-key-create'];

interface Settings {
  names: string[];
  warmup: number;
  requests: number;
  connections: number;
  out: string;
}

interface Counted {
  scenario: Scenario;
  instructionsPerRequest: number;
  failures: number;
}

function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

function settings(): Settings {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  return {
    names: only && only.length > 0 ? only : DEFAULT_SCENARIOS,
    warmup: count('BENCH_WARMUP_REQUESTS', 3000),
    requests: count('BENCH_REQUESTS', 3000),
    connections: count('BENCH_CONNECTIONS', 32),
    out: path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, 'bench/results/instructions.md')),
  };
}

/** callgrind with counting off until the measured requests; JIT code needs the self-modifying-code check. */
function callgrind(outFile: string): string[] {
  return [
    'valgrind',
    '--tool=callgrind',
    '--instr-atstart=no',
    '--smc-check=all-non-file',
    `--callgrind-out-file=${outFile}`,
  ];
}

function control(pid: number, ...args: string[]): void {
  execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' });
}

/** Sends exactly `amount` requests (the last ones may fail with timeouts under valgrind: counted as failures). */
async function send(server: ChildServer, spec: LoadSpec, amount: number, connections: number) {
  return autocannon({ url: server.baseUrl, connections, amount, timeout: 60, requests: [spec] });
}

/** The `totals:` line of every dump callgrind wrote for this run. */
function totalInstructions(dir: string): number {
  let total = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.startsWith('callgrind.out'))) {
    const line = /^totals:\s+(\d+)/m.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
    total += Number(line?.[1] ?? 0);
  }
  return total;
}

/**
 * Under callgrind on a busy VM a request can wait in the socket longer than the 10 s headers timeout; the
 * server then answers 408 and closes, and autocannon (counting to `amount`) waits forever. Ten minutes each.
 */
const UNDER_VALGRIND = {
  KEYPLANE_HEADERS_TIMEOUT_MS: '600000',
  KEYPLANE_REQUEST_TIMEOUT_MS: '600000',
  KEYPLANE_KEEP_ALIVE_TIMEOUT_MS: '600000',
};

async function countScenario(scenario: Scenario, s: Settings): Promise<Counted> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-callgrind-'));
  const wrapper = callgrind(path.join(dir, 'callgrind.out.%p'));
  const adminKey = `bench-admin-${crypto.randomBytes(16).toString('hex')}`;
  const server =
    scenario.target === 'baseline'
      ? await startBaseline(wrapper)
      : await startKeyplane({ adminKey, env: { ...UNDER_VALGRIND, ...scenario.serverEnv }, wrapper });
  try {
    const spec = await scenario.prepare(scenarioContext(server.baseUrl, adminKey));
    await send(server, spec, s.warmup, s.connections);
    control(server.pid, '-i', 'on');
    const measured = await send(server, spec, s.requests, s.connections);
    control(server.pid, '-i', 'off');
    control(server.pid, '-d');
    const answered = measured['2xx'] + measured.non2xx;
    return {
      scenario,
      instructionsPerRequest: totalInstructions(dir) / Math.max(1, answered),
      failures: measured.non2xx + measured.errors + measured.timeouts,
    };
  } finally {
    await server.stop();
    const keep = process.env.BENCH_CALLGRIND_KEEP;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(keep, `${scenario.name}-${f}`));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report(rows: Counted[], s: Settings): string {
  const machine = machineInfo();
  const baseline = rows.find((r) => r.scenario.name === 'baseline')?.instructionsPerRequest;
  const lines = [
    `Command: \`npm run bench:instructions\` · ${new Date().toISOString()} · ${machine.cpuModel}, ${machine.cpus} vCPU · ` +
      `Node ${process.version} · ${s.warmup} warm-up then ${s.requests} counted requests, ${s.connections} connections`,
    '',
    '| Scenario | instructions per request (thousands) | baseline ÷ scenario | failed requests |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => {
      const ratio = baseline ? `${(baseline / r.instructionsPerRequest).toFixed(2)}×` : 'n/a';
      return `| ${r.scenario.title} | ${(r.instructionsPerRequest / 1000).toFixed(0)} | ${ratio} | ${r.failures} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const s = settings();
  const scenarios = s.names.map((name) => {
    const found = SCENARIOS.find((x) => x.name === name);
    if (!found) throw new Error(`unknown scenario "${name}" (have: ${SCENARIOS.map((x) => x.name).join(', ')})`);
    return found;
  });
  const rows: Counted[] = [];
  for (const scenario of scenarios) {
    process.stderr.write(`bench:instructions: ${scenario.name} under callgrind …\n`);
    rows.push(await countScenario(scenario, s));
  }
  const markdown = report(rows, s);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  fs.writeFileSync(s.out, markdown);
  process.stdout.write(`${markdown}\nWritten to ${path.relative(process.cwd(), s.out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:instructions: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
