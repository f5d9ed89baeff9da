import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { responseKeys } from '../helpers/cpix';
import { freshKids, hlsRequest } from '../helpers/cpix-docs';
import { errorBody, LoopbackClient, type HttpResult } from '../helpers/http-client';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { createApiKey, startServerProcess, type ServerProcess } from '../helpers/server-process';

/**
 * Three Keyplane server processes on one PostgreSQL database (issue 16): races across them settle on one
 * winner, and neither an instance killed with SIGKILL nor the database restarted under load loses or
 * changes a key that was acknowledged.
 */
const PARALLEL = 100;

let pg: PostgresServer | undefined;
let url = '';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-pg-instances-'));
const procs: ServerProcess[] = [];
const clients: LoopbackClient[] = [];
let encoderKeys: string[] = [];
let keyserverKey = '';

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase();
  // One master key for every instance (the README's recipe: the same key file on each machine).
  fs.writeFileSync(path.join(dataDir, 'master.key'), crypto.randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const env = { KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: url, KEYPLANE_DATABASE_POOL_SIZE: '8' };
  // All three at once on an empty database: the migration runs once, under the advisory lock.
  procs.push(...(await Promise.all([0, 1, 2].map(() => startServerProcess(dataDir, env)))));
  for (const p of procs) clients.push(new LoopbackClient(p.port, PARALLEL));
  const port = (procs[0] as ServerProcess).port;
  encoderKeys = [await createApiKey(port, 'enc-1', ['encoder']), await createApiKey(port, 'enc-2', ['encoder'])];
  keyserverKey = await createApiKey(port, 'proxy', ['keyserver']);
}, 120_000);

afterAll(async () => {
  clients.forEach((c) => c.close());
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  pg?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const speke = (client: LoopbackClient, apiKey: string, resourceId: string, kids: string[]) =>
  client.send({
    method: 'POST',
    path: '/copyProtection',
    headers: { 'content-type': 'application/xml', 'x-api-key': apiKey },
    body: hlsRequest(resourceId, kids),
  });

const getKey = (client: LoopbackClient, resourceId: string, kid: string) =>
  client.send({ method: 'GET', path: `/keys/${resourceId}/${kid}`, headers: { 'x-api-key': keyserverKey } });

const describeOdd = (results: HttpResult[], allowed: number[]) =>
  results.filter((r) => !allowed.includes(r.status)).map((r) => `${r.status} ${r.body.toString('utf8').slice(0, 200)}`);

async function rows<R>(sql: string, values: unknown[]): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as R[];
  } finally {
    await client.end();
  }
}

it('ran the schema migration once although three instances started at once', async () => {
  expect(await rows('SELECT version FROM schema_migrations', [])).toHaveLength(1);
});

it(`${PARALLEL} conflicting SPEKE requests across 3 instances: one 200, ${PARALLEL - 1} × 409, no loser key stored`, async () => {
  for (let round = 0; round < 2; round++) {
    const resourceId = `pg-race-${round}-${Date.now()}`;
    const kidSets = Array.from({ length: PARALLEL }, (_, i) => freshKids(1 + (i % 3)));
    const results = await Promise.all(
      kidSets.map((kids, i) => speke(clients[i % 3] as LoopbackClient, encoderKeys[i % 2] as string, resourceId, kids)),
    );
    expect(describeOdd(results, [200, 409])).toEqual([]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 409)) {
      expect(errorBody(r)?.error).toBe('lease_conflict');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    const winner = results.findIndex((r) => r.status === 200);
    const stored = await rows<{ kid: string }>('SELECT kid FROM keys WHERE resource_id = $1 ORDER BY kid', [
      resourceId,
    ]);
    expect(stored.map((r) => r.kid)).toEqual([...(kidSets[winner] as string[])].sort());
  }
});

it(`${PARALLEL} identical SPEKE requests across 3 instances: every answer carries the one key stored per KID`, async () => {
  const resourceId = `pg-issue-${Date.now()}`;
  const kids = freshKids(3);
  const results = await Promise.all(
    Array.from({ length: PARALLEL }, (_, i) =>
      speke(clients[i % 3] as LoopbackClient, encoderKeys[0] as string, resourceId, kids),
    ),
  );
  expect(describeOdd(results, [200])).toEqual([]);
  const first = responseKeys((results[0] as HttpResult).body.toString('utf8'));
  for (const r of results) {
    const keys = responseKeys(r.body.toString('utf8'));
    for (const kid of kids) expect(keys.get(kid)?.key.equals(first.get(kid)?.key as Buffer)).toBe(true);
  }
  const stored = await rows<{ n: number }>('SELECT count(*)::int AS n FROM keys WHERE kid = ANY($1::text[])', [kids]);
  expect(stored[0]?.n).toBe(3);
  for (const [i, kid] of kids.entries()) {
    const served = await getKey(clients[i % 3] as LoopbackClient, resourceId, kid);
    expect(served.status).toBe(200);
    expect(served.body.equals(first.get(kid)?.key as Buffer)).toBe(true);
  }
});

/** A key some instance acknowledged with a 200. */
interface Acknowledged {
  resourceId: string;
  kid: string;
  key: Buffer;
}

/**
 * SPEKE requests (fresh resource, one fresh KID each) from `workers` loops spread over `targets` until
 * `stop()`; every 200 is recorded as acknowledged, every other answer and transport error counted.
 */
function load(targets: LoopbackClient[], workers: number) {
  const acknowledged: Acknowledged[] = [];
  const answers: HttpResult[] = [];
  let transportErrors = 0;
  let running = true;
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const resourceId = `pg-load-${w}-${n}-${crypto.randomUUID()}`;
      const [kid] = freshKids(1) as [string];
      try {
        const res = await speke(
          targets[(w + n) % targets.length] as LoopbackClient,
          encoderKeys[0] as string,
          resourceId,
          [kid],
        );
        answers.push(res);
        if (res.status === 200) {
          const key = responseKeys(res.body.toString('utf8')).get(kid)?.key as Buffer;
          acknowledged.push({ resourceId, kid, key });
        }
      } catch {
        transportErrors++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    acknowledged,
    answers,
    transportErrors: () => transportErrors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

async function expectAllServed(via: LoopbackClient, acknowledged: Acknowledged[]): Promise<void> {
  const wrong: string[] = [];
  for (let i = 0; i < acknowledged.length; i += 50) {
    const batch = acknowledged.slice(i, i + 50);
    const served = await Promise.all(batch.map((a) => getKey(via, a.resourceId, a.kid)));
    served.forEach((res, j) => {
      const a = batch[j] as Acknowledged;
      if (res.status !== 200 || !res.body.equals(a.key)) wrong.push(`${a.resourceId}/${a.kid}: ${res.status}`);
    });
  }
  expect(wrong).toEqual([]);
}

it('kill -9 of an instance under load: every key acknowledged before the kill is served identically', async () => {
  const traffic = load(clients, 12);
  await until(() => traffic.acknowledged.length >= 60, '60 acknowledged keys');
  const victim = procs[2] as ServerProcess;
  await victim.kill('SIGKILL');
  const atKill = traffic.acknowledged.length;
  await until(() => traffic.acknowledged.length >= atKill + 60, '60 more keys from the survivors');
  await traffic.stop();
  expect(describeOdd(traffic.answers, [200])).toEqual([]);
  await expectAllServed(clients[0] as LoopbackClient, traffic.acknowledged);
  await expectAllServed(clients[1] as LoopbackClient, traffic.acknowledged.slice(0, atKill));
});

it('the database restarted under load: 503 with Retry-After meanwhile, then recovery, no key lost or changed', async () => {
  const server = pg as PostgresServer;
  const survivors = clients.slice(0, 2);
  const traffic = load(survivors, 8);
  await until(() => traffic.acknowledged.length >= 40, '40 acknowledged keys');
  server.stop('immediate');
  const atStop = traffic.answers.length;
  await until(() => traffic.answers.slice(atStop).filter((r) => r.status === 503).length >= 10, 'ten 503s');
  server.start();
  const atStart = traffic.acknowledged.length;
  await until(() => traffic.acknowledged.length >= atStart + 40, '40 keys after the restart');
  await traffic.stop();
  const unavailable = traffic.answers.filter((r) => r.status === 503);
  expect(describeOdd(traffic.answers, [200, 503])).toEqual([]);
  for (const r of unavailable) {
    expect(errorBody(r)?.error).toBe('unavailable');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
  }
  expect(traffic.transportErrors()).toBe(0);
  await expectAllServed(survivors[1] as LoopbackClient, traffic.acknowledged);
});
