/**
 * `keyplane serve --workers 2` as a real process tree: both workers answer, one killed with SIGKILL is
 * restarted while the other keeps serving, a 20-way lease race across workers has exactly one winner,
 * SIGTERM drains everything, and the failed-auth limit counts the workers' refusals together. Which worker answered is read from the access log (debug level):
 * each worker's lines carry its pid, matched to the response by X-Request-Id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BIN, cleanEnv } from './cli-process';
import { freePort, type LogLine } from './keyplane-process';

const ADMIN_KEY = 'serve-workers-admin-key-0123456789abcdef';
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';

interface Cluster {
  url: string;
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  dataDir: string;
}

let cluster: Cluster;

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the workers that logged "keyplane listening", in order. */
const listeningPids = (): number[] =>
  cluster.logs.filter((l) => l.msg === 'keyplane listening').map((l) => l.pid as number);

async function startCluster(workers: string, env: Record<string, string> = {}): Promise<Cluster> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-workers-'));
  const port = await freePort();
  const args = ['serve', '--workers', workers, '--port', String(port), '--data-dir', dataDir, '--log-level', 'debug'];
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv({ KEYPLANE_ADMIN_KEY: ADMIN_KEY, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString('utf8')).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  await until('the start banner', () => (stderr.includes('listening on') ? true : undefined));
  return { url: `http://127.0.0.1:${port}`, child, logs, stderr: () => stderr, dataDir };
}

/** One request on its own connection (no keep-alive), so the primary hands each to the next worker. */
function send(
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; requestId: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${cluster.url}${urlPath}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          requestId: String(res.headers['x-request-id']),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.once('error', reject);
    req.end(body);
  });
}

const health = () => send('GET', '/healthz', {});

/** The pid whose access log line carries this request id. */
const servedBy = (requestId: string): Promise<number> =>
  until(`the access log line of ${requestId}`, () => {
    const line = cluster.logs.find((l) => l.msg === 'request' && l.requestId === requestId);
    return line?.pid as number | undefined;
  });

async function encoderKey(): Promise<string> {
  const body = JSON.stringify({ name: 'encoder', roles: ['encoder'] });
  const res = await send('POST', '/api-keys', { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, body);
  expect(res.status).toBe(201);
  return (JSON.parse(res.body) as { key: string }).key;
}

const cpix = (resourceId: string, kid: string) =>
  `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="${kid}"/>` +
  `</cpix:ContentKeyList><cpix:DRMSystemList><cpix:DRMSystem kid="${kid}" systemId="${HLS_AES128}"><cpix:URIExtXKey/>` +
  `</cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`;
const kid = (n: number) => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;

beforeAll(async () => {
  cluster = await startCluster('2');
}, 60_000);

afterAll(async () => {
  if (cluster.child.exitCode === null && cluster.child.signalCode === null) {
    cluster.child.kill('SIGKILL');
    for (const pid of listeningPids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(cluster.dataDir, { recursive: true, force: true });
});

describe('keyplane serve --workers 2', () => {
  it('starts two worker processes, and requests are answered by both', async () => {
    const pids = await until('two listening workers', () =>
      listeningPids().length >= 2 ? listeningPids() : undefined,
    );
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(cluster.child.pid);
    const served = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const res = await health();
      expect(res.status).toBe(200);
      served.add(await servedBy(res.requestId));
    }
    expect([...served].sort()).toEqual([...pids].sort());
  });

  it('gives exactly one 200 and 19 × 409 for a 20-way lease race spread over both workers', async () => {
    const key = await encoderKey();
    const headers = { 'x-api-key': key, 'content-type': 'application/xml' };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send('POST', '/copyProtection', headers, cpix('race-across', kid(i + 1)))),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const pids = new Set(await Promise.all(results.map((r) => servedBy(r.requestId))));
    expect(pids.size).toBe(2);
  });

  it('restarts a worker killed with SIGKILL, and keeps serving meanwhile', async () => {
    const [victim, survivor] = listeningPids() as [number, number];
    process.kill(victim, 'SIGKILL');
    await until('the victim to be gone', () => (isAlive(victim) ? undefined : true));
    // The survivor answers while the replacement starts (each connection goes to a live worker).
    expect((await health()).status).toBe(200);
    const replacement = await until('a restarted worker', () =>
      listeningPids().find((p) => p !== victim && p !== survivor),
    );
    expect(cluster.stderr()).toContain(`worker ${victim} was killed by SIGKILL; restarting it`);
    const served = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const res = await health();
      expect(res.status).toBe(200);
      served.add(await servedBy(res.requestId));
    }
    expect([...served].sort()).toEqual([survivor, replacement].sort());
  });

  it('drains and exits 0 on SIGTERM, workers included', async () => {
    const workers = listeningPids().filter(isAlive);
    expect(workers).toHaveLength(2);
    const exited = new Promise<number | null>((resolve) => cluster.child.once('exit', (code) => resolve(code)));
    cluster.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
  });
});

describe('keyplane serve --workers 2, crashing in a loop', () => {
  it('gives up after six worker deaths within a minute: exits 1 and leaves no worker behind', async () => {
    const first = cluster;
    cluster = await startCluster('2');
    try {
      const exited = new Promise<number | null>((resolve) => cluster.child.once('exit', (code) => resolve(code)));
      const killed = new Set<number>();
      // Kill every worker as soon as it listens: each kill is a crash, restarted after 0.1, 0.2, 0.4 … s.
      while (cluster.child.exitCode === null && killed.size < 10) {
        const next = listeningPids().find((p) => !killed.has(p) && isAlive(p));
        if (next === undefined) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        killed.add(next);
        process.kill(next, 'SIGKILL');
      }
      expect(await exited).toBe(1);
      expect(cluster.stderr()).toMatch(/workers crashed 6 times within 60 s: giving up/);
      expect(killed.size).toBe(6);
      for (const pid of listeningPids()) expect(isAlive(pid)).toBe(false);
    } finally {
      fs.rmSync(cluster.dataDir, { recursive: true, force: true });
      cluster = first;
    }
  }, 60_000);
});

describe('keyplane serve --workers 2, rate limits', () => {
  it('counts failed requests of both workers against one budget per address', async () => {
    const first = cluster;
    cluster = await startCluster('2', { KEYPLANE_RATE_LIMIT_FAILED_AUTH: '10' });
    try {
      await until('two listening workers', () => (listeningPids().length >= 2 ? true : undefined));
      const refused: { status: number; requestId: string; retryAfter?: string }[] = [];
      for (let i = 0; i < 24; i++) {
        const res = await send('GET', `/keys/limited/${kid(i)}`, { 'x-api-key': `kp_0000000000000000_guess${i}` });
        refused.push(res);
      }
      const unauthorized = refused.filter((r) => r.status === 401);
      // Each worker alone would have let 10 through (20 in all); together a block reaches the other worker
      // within a moment, so at most a request or two more than the budget.
      expect(unauthorized.length).toBeGreaterThanOrEqual(10);
      expect(unauthorized.length).toBeLessThanOrEqual(12);
      expect(refused.filter((r) => r.status === 429).length).toBe(24 - unauthorized.length);
      expect(refused.slice(-5).every((r) => r.status === 429)).toBe(true);
      const pids = new Set(await Promise.all(unauthorized.map((r) => servedBy(r.requestId))));
      expect(pids.size).toBe(2);
    } finally {
      cluster.child.kill('SIGTERM');
      await new Promise((resolve) => cluster.child.once('exit', resolve));
      fs.rmSync(cluster.dataDir, { recursive: true, force: true });
      cluster = first;
    }
  }, 60_000);
});
