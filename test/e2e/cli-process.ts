import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, SHARED } from '../helpers/paths';
import { freePort } from './keyplane-process';

/** The real `keyplane` binary (bin shim → dist/src/cli/main.js, built by jest's global setup). */
export const BIN = path.join(ROOT, 'bin/keyplane.js');

/** What one CLI run printed and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A minimal environment: nothing from the developer's shell (no KEYPLANE_*, no AWS_* credentials). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const xsd = { KEYPLANE_XSD_DIR: path.join(SHARED, 'docs/xsd') }; // the clone may not sit beside shared
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), LANG: 'C.UTF-8', ...xsd, ...extra };
}

/** Runs `node bin/keyplane.js ...args` and collects its output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

/** Runs the CLI and parses its stdout as JSON, failing with the stderr when it did not exit 0. */
export async function runCliJson<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const run = await runCli([...args, '--json'], env);
  if (run.code !== 0) throw new Error(`keyplane ${args.join(' ')} exited ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** `keyplane serve` running as a child process on a free loopback port with a temp data dir. */
export interface ServeProcess {
  url: string;
  adminKey: string;
  /** Everything the server wrote to stderr so far (the start banner). */
  stderr: () => string;
  stop: () => Promise<void>;
}

/** Starts `keyplane serve` and resolves once its start banner says it listens. */
export async function serveKeyplane(adminKey: string, env: Record<string, string> = {}): Promise<ServeProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cli-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'],
    {
      env: cleanEnv({ KEYPLANE_ADMIN_KEY: adminKey, ...env }),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`keyplane serve exited ${code} before listening:\n${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { url: `http://127.0.0.1:${port}`, adminKey, stderr: () => stderr, stop };
}
