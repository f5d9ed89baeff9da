import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * A throwaway PostgreSQL server for tests and benchmarks, from Debian's packages (scripts/test-deps.sh
 * installs them): `initdb` into a temp dir, `pg_ctl start` on a free loopback port with the unix socket in
 * that dir, password (SCRAM) authentication over TCP. initdb refuses to run as root, so as root (CI) every
 * server command runs as the `postgres` user through `runuser`, and the dir is given to it.
 */
export interface PostgresServer {
  port: number;
  user: string;
  password: string;
  /** A connection string for `database` (password included). */
  url: (database: string) => string;
  /** Creates a fresh database and returns its connection string. */
  createDatabase: (name?: string) => Promise<string>;
  /** Stops the server (`fast`: clean shutdown; `immediate`: like a crash, recovered from WAL at the next start). */
  stop: (mode?: 'fast' | 'immediate') => void;
  /** Starts it again on the same port and data dir. */
  start: () => void;
  /** Stops it and deletes its files. */
  destroy: () => void;
}

/** A free TCP port on 127.0.0.1 (here rather than from server-process.ts: the bench imports this file too). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest || !fs.existsSync(path.join(base, newest, 'bin/initdb'))) {
    throw new Error('PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run scripts/test-deps.sh');
  }
  return path.join(base, newest, 'bin');
}

/** Runs a server binary, as `postgres` when we are root (initdb and postgres refuse root). */
function runner(): (bin: string, args: string[]) => string {
  const asRoot = process.getuid?.() === 0;
  return (bin, args) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  };
}

/** Server settings for speed in tests; durability settings stay PostgreSQL's defaults unless `settings` change them. */
const TEST_SETTINGS: Record<string, string> = { max_connections: '200', shared_buffers: '32MB' };

/** Starts a throwaway server; `settings` are extra `-c name=value` server settings. */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PostgresServer> {
  const bin = binDir();
  const run = runner();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pg-'));
  const data = path.join(dir, 'data');
  const user = 'keyplane';
  const password = crypto.randomBytes(12).toString('hex');
  fs.writeFileSync(path.join(dir, 'pw'), password);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    fs.chownSync(dir, uid, gid);
    fs.chownSync(path.join(dir, 'pw'), uid, gid);
  }
  fs.chmodSync(dir, 0o700);
  run(path.join(bin, 'initdb'), [
    '-D', data, '-U', user, `--pwfile=${path.join(dir, 'pw')}`,
    '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync',
  ]); // prettier-ignore
  const port = await freePort();
  const options = Object.entries({ ...TEST_SETTINGS, ...settings })
    .map(([k, v]) => `-c ${k}=${v}`)
    .concat([`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1'])
    .join(' ');
  const start = () => {
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
  };
  let running = false;
  const stopOnExit = () => {
    if (running) {
      try {
        stop('immediate');
      } catch {
        // already gone
      }
    }
  };
  start();
  running = true;
  process.once('exit', stopOnExit);
  const url = (database: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  return {
    port,
    user,
    password,
    url,
    createDatabase: async (name = `kp_${crypto.randomBytes(6).toString('hex')}`) => {
      const client = new Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop: (mode) => {
      stop(mode);
      running = false;
    },
    start: () => {
      start();
      running = true;
    },
    destroy: () => {
      process.off('exit', stopOnExit);
      stopOnExit();
      running = false;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
