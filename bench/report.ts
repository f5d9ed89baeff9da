import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/** One measured scenario, as reported. */
export interface ScenarioResult {
  name: string;
  title: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses, errors and timeouts during the measured run. */
  failures: number;
  peakRssMib?: number;
  /** Server CPU time (user + system) per response during the measured run, in µs; robust to a shared machine. */
  cpuUsPerReq?: number;
  /** The load generator's CPU time per response in µs: what it took from a server on the same cores. */
  clientCpuUsPerReq?: number;
  notes?: string;
}

/** The run settings printed with the results. */
export interface RunSettings {
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Which program sent the load. */
  loadgen: 'autocannon' | 'wrk';
}

/** Where and with what the benchmark ran. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGib: number;
  node: string;
  os: string;
  date: string;
  commit: string;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return (match[1] as string).trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Collects machine facts: CPU count and model, memory, Node version, OS, date, commit. */
export function machineInfo(): MachineInfo {
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpuModel(),
    memoryGib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    commit: gitCommit(),
  };
}

const fixed = (n: number, digits: number) => n.toFixed(digits);

function ratio(result: ScenarioResult, baseline?: ScenarioResult): string {
  if (!baseline || baseline.reqPerSec === 0) return 'n/a';
  return `${fixed(result.reqPerSec / baseline.reqPerSec, 2)}×`;
}

/** The results as a markdown table (ratio = scenario req/s ÷ baseline req/s). */
export function resultsTable(results: ScenarioResult[], baselineName = 'baseline'): string {
  const baseline = results.find((r) => r.name === baselineName);
  const header = [
    '| Scenario | req/s | p50 ms | p99 ms | vs baseline | server CPU µs/req | client CPU µs/req | peak RSS MiB | non-2xx/errors | Notes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const rows = results.map(
    (r) =>
      `| ${r.title} | ${fixed(r.reqPerSec, 0)} | ${fixed(r.p50Ms, 1)} | ${fixed(r.p99Ms, 1)} | ${ratio(r, baseline)} | ` +
      `${r.cpuUsPerReq === undefined ? 'n/a' : fixed(r.cpuUsPerReq, 0)} | ` +
      `${r.clientCpuUsPerReq === undefined ? 'n/a' : fixed(r.clientCpuUsPerReq, 0)} | ` +
      `${r.peakRssMib === undefined ? 'n/a' : fixed(r.peakRssMib, 0)} | ${r.failures} | ${r.notes ?? ''} |`,
  );
  return [...header, ...rows].join('\n');
}

/** The full report: settings, machine and the table. */
export function markdownReport(results: ScenarioResult[], settings: RunSettings, machine: MachineInfo): string {
  return [
    '# Keyplane benchmark results',
    '',
    `- Date: ${machine.date} (commit ${machine.commit})`,
    `- Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGib} GiB RAM, ${machine.os}`,
    `- Node: ${machine.node}`,
    `- Load: ${settings.loadgen === 'wrk' ? 'wrk (1 thread)' : 'autocannon (in the bench process)'} on loopback, ` +
      `${settings.connections} connections, ` +
      `${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s measured, per scenario; ` +
      'each scenario gets a fresh server process and data dir',
    '',
    resultsTable(results),
    '',
  ].join('\n');
}
