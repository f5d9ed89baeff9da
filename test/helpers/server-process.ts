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

/** Starts the compiled server on `dataDir` (admin key ADMIN_KEY) and resolves once it listens. */
export async function startServerProcess(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...process.env,
      KEYPLANE_DATA_DIR: dataDir,
      KEYPLANE_ADMIN_KEY: ADMIN_KEY,
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: String(port),
      KEYPLANE_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-20_000)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out = (out + d.toString('utf8')).slice(-4096);
      if (out.includes('keyplane listening')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr}`)),
    );
  });
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
