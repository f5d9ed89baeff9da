import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { ADMIN_KEY } from './test-app';
import { DIST_SERVER } from './paths';

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
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

/** `node dist/src/server.js` on a data dir the caller owns (it survives kills and restarts). */
export interface ServerProcess {
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything the server wrote to stderr (crash traces end up here). */
  stderr: () => string;
  /** Sends a signal and resolves once the process has exited. */
  kill: (signal: NodeJS.Signals) => Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** Polls `GET /heartbeat` until the server answers (any log level works), bounded to ~30 s. */
async function waitUntilListening(port: number, exited: () => string | undefined): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const why = exited();
    if (why !== undefined) throw new Error(why);
    const up = await fetch(`http://127.0.0.1:${port}/heartbeat`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server on port ${port} did not answer /heartbeat`);
}

/** Starts the compiled server on `dataDir` (admin key ADMIN_KEY) and resolves once it answers. */
export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...process.env,
      KEYPLANE_DATA_DIR: dataDir,
      KEYPLANE_ADMIN_KEY: ADMIN_KEY,
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: String(port),
      KEYPLANE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-20_000)));
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null
      ? `server exited (${child.exitCode ?? child.signalCode}) before listening: ${stderr}`
      : undefined;
  await waitUntilListening(port, exited);
  return {
    port,
    pid: child.pid as number,
    child,
    stderr: () => stderr,
    kill: async (signal) => {
      child.kill(signal);
      await waitForExit(child);
    },
  };
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (Linux). */
export function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Creates an API key through `POST /api-keys` (admin key ADMIN_KEY) on a running server. */
export async function createApiKey(port: number, name: string, roles: string[]): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/api-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ name, roles }),
  });
  if (res.status !== 201) throw new Error(`POST /api-keys answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}
