import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Repository root (this file runs from dist/bench/). */
export const ROOT = path.resolve(__dirname, '../..');
/** The compiled standalone Keyplane server. */
export const KEYPLANE_SERVER = path.join(ROOT, 'dist/src/server.js');
/** The `keyplane` command (for `serve --workers N`). */
export const KEYPLANE_CLI = path.join(ROOT, 'bin/keyplane.js');
/** The compiled bare Express echo server used as the baseline. */
export const BASELINE_SERVER = path.join(ROOT, 'dist/bench/baseline-server.js');

/** A server under test running in its own process on a loopback port. */
export interface ChildServer {
  pid: number;
  baseUrl: string;
  /** Peak resident set size so far in KiB (VmHWM from /proc/<pid>/status). */
  peakRssKib: () => number | undefined;
  /** CPU time (user + system) the process has used so far, in ms. */
  cpuMs: () => number | undefined;
  stop: () => Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** VmHWM (peak RSS, KiB) of a live process, or undefined when /proc is not available. */
export function peakRssKib(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Linux reports process CPU times in clock ticks of 1/100 s (USER_HZ, fixed at 100 on x86-64 and arm64). */
const TICKS_PER_SECOND = 100;

/** User + system CPU time of a live process in ms (utime and stime from /proc/<pid>/stat), or undefined. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** Child process ids of a live process (all its threads' children, from /proc). */
function childPids(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' '))
      .filter((s) => s.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU time of a process and its live descendants (a cluster primary and its workers), in ms. */
function treeCpuMs(pid: number): number | undefined {
  const own = cpuMs(pid);
  if (own === undefined) return undefined;
  return childPids(pid).reduce((sum, child) => sum + (treeCpuMs(child) ?? 0), own);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** Stops gracefully (SIGTERM, so `--cpu-prof` gets written), then SIGKILL after a grace period. */
async function terminate(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited(child);
  clearTimeout(timer);
}

function waitForOutput(child: ChildProcess, marker: string, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const errors: string[] = [];
    child.stderr?.on('data', (d: Buffer) => errors.push(d.toString('utf8')));
    child.stdout?.on('data', (d: Buffer) => {
      if (seen.length < 64 * 1024) seen += d.toString('utf8');
      if (seen.includes(marker)) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code} before listening:\n${errors.join('')}`)),
    );
  });
}

async function startChild(
  name: string,
  script: string,
  env: Record<string, string>,
  nodeArgs: string[],
  marker: string,
  wrapper: string[] = [],
  scriptArgs: string[] = [],
): Promise<ChildServer> {
  const port = await freePort();
  const argv = [...wrapper, process.execPath, ...nodeArgs, script, ...scriptArgs];
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: { ...process.env, ...env, PORT: String(port), KEYPLANE_PORT: String(port), KEYPLANE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitForOutput(child, marker, name);
  // Keep draining the pipes so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    pid: child.pid as number,
    baseUrl: `http://127.0.0.1:${port}`,
    peakRssKib: () => peakRssKib(child.pid as number),
    cpuMs: () => treeCpuMs(child.pid as number),
    stop: () => terminate(child),
  };
}

/** Options for a Keyplane server process. */
export interface KeyplaneOptions {
  adminKey: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** A command the server runs under (e.g. valgrind and its options), keeping the process id. */
  wrapper?: string[];
  /** Run `keyplane serve --workers N` instead of the standalone server (resolves once the first worker listens). */
  workers?: number;
}

/** Starts the compiled Keyplane server with a fresh data dir; the dir is removed on stop. */
export async function startKeyplane(opts: KeyplaneOptions): Promise<ChildServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-'));
  const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: opts.adminKey, ...opts.env };
  const cluster = opts.workers === undefined ? [] : ['serve', '--workers', String(opts.workers)];
  const server = await startChild(
    'keyplane',
    opts.workers === undefined ? KEYPLANE_SERVER : KEYPLANE_CLI,
    env,
    opts.nodeArgs ?? [],
    'keyplane listening',
    opts.wrapper,
    cluster,
  );
  return {
    ...server,
    stop: async () => {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the bare Express 5 echo server. */
export function startBaseline(wrapper: string[] = []): Promise<ChildServer> {
  return startChild('baseline', BASELINE_SERVER, {}, [], 'baseline listening', wrapper);
}
