import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteAuditTable } from '../../src/store/sqlite/audit-table';
import { SqliteAuditPruner, type AuditPruneRun } from '../../src/store/sqlite/audit-pruner';
import { auditFileOf, openSqliteBackend, type SqliteBackend, type SqliteBackendOptions } from '../../src/store/sqlite';
import { deliveryRecord } from '../helpers/audit-records';

const DAY_MS = 24 * 3600 * 1000;
const T = Date.parse('2026-03-10T12:00:00.000Z');

const record = deliveryRecord;

let dir: string;
let file: string;
const opened: SqliteBackend[] = [];

/** A store on the test's file whose clock the test moves; the background prune runs once a day (i.e. never here). */
function open(clock: { now: number }, options: SqliteBackendOptions = {}): SqliteBackend {
  const store = openSqliteBackend(file, {
    auditRetentionDays: 30,
    now: () => new Date(clock.now),
    ...options,
    auditPrune: { intervalMs: DAY_MS, ...options.auditPrune },
  });
  opened.push(store);
  return store;
}

/** Rows physically in the audit file, pruned or not, read through a connection of its own. */
function rowsInFile(): number {
  const db = new Database(auditFileOf(file), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-audit-retention-'));
  file = path.join(dir, 'keyplane.db');
});
afterEach(async () => {
  jest.useRealTimers();
  for (const store of opened.splice(0)) await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SQLite audit retention', () => {
  it('prunes expired records in batches and keeps fresh ones', async () => {
    const clock = { now: T };
    const store = open(clock, { auditPrune: { batchSize: 10, budgetMs: 0 } });
    const old = Array.from({ length: 35 }, (_, i) => record('movie', T - 10 * DAY_MS + i));
    const fresh = Array.from({ length: 5 }, (_, i) => record('movie', T + i));
    await store.audit.append([...fresh, ...old]);
    expect(store.pruneExpiredAudit()).toEqual({ deleted: 0, more: false });
    clock.now = T + 25 * DAY_MS; // the old ones are 35 days old now, the fresh ones 25
    // A budget of 0 ms stops each run after one batch: 10, 10, 10, then the last 5.
    const runs: AuditPruneRun[] = [];
    do runs.push(store.pruneExpiredAudit() as AuditPruneRun);
    while (runs.length < 10 && runs[runs.length - 1]?.more);
    expect(runs).toEqual([
      { deleted: 10, more: true },
      { deleted: 10, more: true },
      { deleted: 10, more: true },
      { deleted: 5, more: false },
    ]);
    expect(rowsInFile()).toBe(5);
    const page = await store.audit.query({ resourceId: 'movie', limit: 100 });
    expect(page.records.map((r) => r.id)).toEqual(fresh.map((r) => r.id));
  });

  it('hides expired records from reads before the pruner has reached them', async () => {
    const clock = { now: T };
    const store = open(clock);
    const older = record('movie', T - 29 * DAY_MS);
    const newer = record('movie', T);
    await store.audit.append([older, newer]);
    clock.now = T + 2 * DAY_MS;
    expect(rowsInFile()).toBe(2);
    expect((await store.audit.query({ resourceId: 'movie', limit: 10 })).records.map((r) => r.id)).toEqual([newer.id]);
    expect((await store.audit.query({ limit: 10 })).records.map((r) => r.id)).toEqual([newer.id]);
  });

  it('runs on a timer: once at start, then every interval, never after close', async () => {
    const clock = { now: T };
    const seed = openSqliteBackend(file); // no retention: keeps everything, never prunes
    await seed.audit.append([...Array.from({ length: 3 }, () => record('movie', T - 40 * DAY_MS)), record('movie', T)]);
    await seed.close();

    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask', 'performance', 'Date'] });
    const runs: AuditPruneRun[] = [];
    const store = open(clock, { auditPrune: { intervalMs: 60_000, onPrune: (run) => runs.push(run) } });
    expect(runs).toEqual([]); // not during construction
    jest.advanceTimersByTime(0);
    expect(runs).toEqual([{ deleted: 3, more: false }]);
    clock.now = T + 31 * DAY_MS;
    jest.advanceTimersByTime(59_999);
    expect(runs).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(runs).toEqual([
      { deleted: 3, more: false },
      { deleted: 1, more: false },
    ]);
    expect(rowsInFile()).toBe(0);
    await store.close();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10 * 60_000);
    expect(runs).toHaveLength(2);
  });

  it('works off a backlog in runs a short pause apart, then falls back to the interval', () => {
    const clock = { now: T + 60 * DAY_MS };
    const seed = new Database(auditFileOf(file));
    const table = new SqliteAuditTable(seed);
    table.insert(Array.from({ length: 25 }, (_, i) => record('movie', T + i)));
    seed.close();

    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask', 'performance', 'Date'] });
    const runs: AuditPruneRun[] = [];
    open(clock, { auditPrune: { batchSize: 10, budgetMs: 0, yieldMs: 50, onPrune: (run) => runs.push(run) } });
    jest.advanceTimersByTime(0);
    jest.advanceTimersByTime(50);
    jest.advanceTimersByTime(50);
    expect(runs.map((r) => r.deleted)).toEqual([10, 10, 5]);
    jest.advanceTimersByTime(DAY_MS - 1);
    expect(runs).toHaveLength(3);
  });

  it('lets two stores (two processes) prune one file at the same time', async () => {
    const clock = { now: T };
    const a = open(clock, { auditPrune: { batchSize: 7, budgetMs: 0 } });
    const b = open(clock, { auditPrune: { batchSize: 7, budgetMs: 0 } });
    await a.audit.append(Array.from({ length: 30 }, (_, i) => record('movie-a', T - 20 * DAY_MS + i)));
    await b.audit.append(Array.from({ length: 20 }, (_, i) => record('movie-b', T - 20 * DAY_MS + i)));
    const keep = [record('movie-a', T), record('movie-b', T)];
    await a.audit.append(keep);
    clock.now = T + 15 * DAY_MS;
    let deleted = 0;
    for (let turn = 0, busy = true; busy; turn++) {
      const runA = a.pruneExpiredAudit();
      const runB = b.pruneExpiredAudit();
      expect([runA?.error, runB?.error]).toEqual([undefined, undefined]);
      deleted += (runA?.deleted ?? 0) + (runB?.deleted ?? 0);
      busy = (runA?.more ?? false) || (runB?.more ?? false);
      expect(turn).toBeLessThan(50);
    }
    expect(deleted).toBe(50);
    expect(rowsInFile()).toBe(2);
    for (const store of [a, b]) {
      const page = await store.audit.query({ limit: 10 });
      expect(page.records.map((r) => r.id).sort()).toEqual(keep.map((r) => r.id).sort());
    }
  });

  it('gives up quickly while another process holds the write lock, and prunes at the next run', async () => {
    const clock = { now: T };
    const store = open(clock, { busyTimeoutMs: 5000 });
    await store.audit.append([record('movie', T - 31 * DAY_MS), record('movie', T)]);
    const other = new Database(auditFileOf(file));
    try {
      other.prepare('BEGIN IMMEDIATE').run();
      const started = performance.now();
      const run = store.pruneExpiredAudit();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(run).toMatchObject({ deleted: 0, more: false, error: expect.objectContaining({ code: 'SQLITE_BUSY' }) });
      other.prepare('COMMIT').run();
    } finally {
      other.close();
    }
    expect(store.pruneExpiredAudit()).toEqual({ deleted: 1, more: false });
    expect(rowsInFile()).toBe(1);
  });

  it('restores the connection busy timeout after a run, so writes keep waiting as long as before', () => {
    const db = new Database(path.join(dir, 'pruner.db'), { timeout: 4321 });
    try {
      const pruner = new SqliteAuditPruner(db, new SqliteAuditTable(db), {
        retentionDays: 1,
        now: () => new Date(T),
        busyTimeoutMs: 25,
      });
      expect(pruner.runOnce()).toEqual({ deleted: 0, more: false });
      expect(db.pragma('busy_timeout', { simple: true })).toBe(4321);
    } finally {
      db.close();
    }
  });

  it('does not prune without a retention', async () => {
    const store = openSqliteBackend(file);
    opened.push(store);
    await store.audit.append([record('movie', 0)]);
    expect(store.pruneExpiredAudit()).toBeUndefined();
    expect((await store.audit.query({ resourceId: 'movie', limit: 10 })).records).toHaveLength(1);
  });
});
