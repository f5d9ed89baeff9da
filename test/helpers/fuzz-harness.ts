import crypto from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { tuneServer } from '../../src/server';
import { fuzzCase, type AuthChoice, type FuzzCase } from './fuzz-cases';
import { errorBody, LoopbackClient, type HttpResult } from './http-client';
import { ADMIN_KEY, makeTestApp, type TestApp } from './test-app';

/** Tables whose writes are allowed on a rejected request: a refused key delivery is audited on purpose. */
const AUDIT_TABLES = new Set(['audit']);

/**
 * Counts every insert, update and delete on the store's tables except the audit trail, with
 * triggers added to the test database: O(1) per fuzz case however large the store grows, and exact
 * (a rolled-back write rolls its count back too). Returns a reader of the count.
 */
function watchKeyState(file: string): { changes: () => number; close: () => void } {
  const db = new Database(file);
  const tables = db
    .prepare<[], string>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " +
        "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
    )
    .pluck()
    .all()
    .filter((t) => !AUDIT_TABLES.has(t));
  db.exec('CREATE TABLE fuzz_changes (n INTEGER NOT NULL); INSERT INTO fuzz_changes VALUES (0);');
  for (const table of tables) {
    for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
      db.exec(
        `CREATE TRIGGER "fuzz_${table}_${op}" AFTER ${op} ON "${table}" BEGIN UPDATE fuzz_changes SET n = n + 1; END`,
      );
    }
  }
  const read = db.prepare<[], number>('SELECT n FROM fuzz_changes').pluck();
  return { changes: () => read.get() ?? 0, close: () => db.close() };
}

/** What a fuzz run measured: cases per family and status, rejected cases checked, time. */
export interface FuzzFigures {
  runs: number;
  seed: number;
  ms: number;
  casesPerSecond: number;
  rejectedChecked: number;
  /** Accepted cases that changed the store: proof the change detector sees writes. */
  storeWritingCases: number;
  statusByKind: Record<string, Record<string, number>>;
}

function credentials(t: TestApp, auth: AuthChoice): Record<string, string> {
  switch (auth) {
    case 'encoder':
      return { 'x-api-key': t.encoderKey };
    case 'keyserver':
      return { authorization: `Bearer ${t.keyserverKey}` };
    case 'admin':
      return { 'x-api-key': ADMIN_KEY };
    case 'unknown-key':
      return { 'x-api-key': `kp_0123456789abcdef_${'A'.repeat(43)}` };
    case 'malformed':
      return { authorization: 'Basic Zm9vOmJhcg==' };
    case 'none':
      return {};
  }
}

function describeCase(c: FuzzCase): string {
  const body = c.body ? ` body(${c.body.length}B)=${JSON.stringify(c.body.toString('latin1').slice(0, 200))}` : '';
  return `${c.kind}: ${c.method} ${c.path} ${JSON.stringify(c.headers)} auth=${c.auth}${body}`;
}

/** Checks one response against the fuzz properties; throws naming the case when one fails. */
function check(c: FuzzCase, res: HttpResult, storeChanged: boolean): void {
  if (res.status >= 500) {
    throw new Error(`${res.status} for ${describeCase(c)}\n${res.body.toString('utf8').slice(0, 500)}`);
  }
  if (res.status < 400) return;
  if (storeChanged) throw new Error(`rejected (${res.status}) but the store changed: ${describeCase(c)}`);
  if (c.method !== 'HEAD' && !errorBody(res)) {
    throw new Error(`${res.status} without the error mapping's JSON body for ${describeCase(c)}`);
  }
}

function listen(t: TestApp): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = t.app.listen(0, '127.0.0.1', () => resolve(tuneServer(server)));
    server.once('error', reject);
  });
}

/** The fuzz seed: KEYPLANE_FUZZ_SEED to replay a run, else a fresh one (printed with the figures). */
export function fuzzSeed(): number {
  const fixed = Number(process.env.KEYPLANE_FUZZ_SEED);
  return Number.isInteger(fixed) && process.env.KEYPLANE_FUZZ_SEED !== '' ? fixed : crypto.randomInt(2 ** 31);
}

/**
 * Fuzzes the real app (SQLite store, local cipher, every route) over HTTP on one keep-alive
 * loopback connection: never a 5xx, every rejection is the error mapping's JSON, and no table but the
 * audit trail changes across a rejected request (counted by triggers, read from a second connection).
 */
export async function fuzzApp(runs: number, seed = fuzzSeed()): Promise<FuzzFigures> {
  // One client sending thousands of refusals: the per-IP abuse limit would answer 429 to most of them.
  // This tests parsing and the error mapping; hostile-routes tests the limit.
  const t = await makeTestApp({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'off' });
  const server = await listen(t);
  const client = new LoopbackClient((server.address() as AddressInfo).port);
  const keyState = watchKeyState(path.join(t.dataDir, 'keyplane.db'));
  const statusByKind: Record<string, Record<string, number>> = {};
  let rejectedChecked = 0;
  let storeWritingCases = 0;
  const started = Date.now();
  try {
    const property = fc.asyncProperty(fuzzCase, async (c) => {
      const before = keyState.changes();
      const headers = { ...credentials(t, c.auth), ...c.headers };
      const res = await client.send({ method: c.method, path: c.path, headers, body: c.body });
      const byStatus = (statusByKind[c.kind] ??= {});
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      if (res.status >= 400) rejectedChecked++;
      const changed = keyState.changes() !== before;
      if (changed && res.status < 400) storeWritingCases++;
      check(c, res, changed);
    });
    await fc.assert(property, { numRuns: runs, seed });
    const health = await client.send({ method: 'GET', path: '/healthz' });
    if (health.status !== 200) throw new Error(`/healthz answered ${health.status} after fuzzing`);
  } finally {
    client.close();
    keyState.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t.close();
  }
  const ms = Date.now() - started;
  return {
    runs,
    seed,
    ms,
    casesPerSecond: Math.round((runs * 1000) / ms),
    rejectedChecked,
    storeWritingCases,
    statusByKind,
  };
}
