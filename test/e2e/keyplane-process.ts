import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DIST_SERVER } from '../helpers/paths';

/** One line of the server's JSON (pino) log. */
export type LogLine = Record<string, unknown>;

/** The compiled server running as a child process on a loopback port with a fresh data dir. */
export interface KeyplaneProcess {
  baseUrl: string;
  adminKey: string;
  /** Every JSON log line the server has written so far (access log included: it runs at debug level). */
  logs: LogLine[];
  stop: () => Promise<void>;
}

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

function collectLogs(child: ChildProcess, logs: LogLine[], onListening: () => void): void {
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg === 'keyplane listening') onListening();
      } catch {
        // not a log line
      }
    }
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** Starts `node dist/src/server.js` with a temp KEYPLANE_DATA_DIR and resolves once it listens. */
export async function startKeyplane(adminKey: string, env: Record<string, string> = {}): Promise<KeyplaneProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-e2e-'));
  const port = await freePort();
  const logs: LogLine[] = [];
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...process.env,
      KEYPLANE_DATA_DIR: dataDir,
      KEYPLANE_ADMIN_KEY: adminKey,
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: String(port),
      KEYPLANE_LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
  const stop = async () => {
    child.kill('SIGTERM');
    await waitForExit(child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    collectLogs(child, logs, resolve);
    child.once('exit', (code) =>
      reject(new Error(`keyplane exited with ${code} before listening:\n${stderr.join('')}`)),
    );
  });
  return { baseUrl: `http://127.0.0.1:${port}`, adminKey, logs, stop };
}

/** Creates an API key with the given roles through `POST /api-keys`. */
export async function createApiKey(kp: KeyplaneProcess, name: string, roles: string[]): Promise<string> {
  const res = await fetch(`${kp.baseUrl}/api-keys`, {
    method: 'POST',
    headers: { 'x-api-key': kp.adminKey, 'content-type': 'application/json' },
    body: JSON.stringify({ name, roles }),
  });
  if (res.status !== 201) throw new Error(`POST /api-keys answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}
