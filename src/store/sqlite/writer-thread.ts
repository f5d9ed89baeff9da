import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { AUDIT_INSERT_SQL } from './audit-table';
import { isBusy } from './errors';
import { ISSUE_SQL, runClaim, runIssue, type IssueOp, type IssueRace } from './issue-write';

/** How long `close` waits for the thread to commit what it was sent and close its connections. */
const CLOSE_WAIT_MS = 10_000;

/** Which file a batch goes to: issuance to the main file (savepoint per write), audit rows to the audit file. */
type Target = 'main' | 'audit';

/** One write as data: an issuance, or the rows of one audit append. */
type Op = IssueOp | unknown[][];

/** How one write ended in the thread: done, a race (rolled back), or an error (its message and SQLite code). */
type Outcome = { ok: true } | { ok: false; race: IssueRace } | { ok: false; error: { message: string; code?: string } };

/** The thread's answer to one batch: every write's outcome, or the batch's failure. */
interface BatchResult {
  id: number;
  outcomes?: Outcome[];
  failure?: { message: string; code?: string };
}

/**
 * The thread: a connection to each file, prepared statements, and a loop over the batches it is sent.
 * Each batch is one `BEGIN IMMEDIATE … COMMIT`, issuance writes each in a savepoint, exactly as
 * GroupCommitter does on the loop. While another process holds the file's write lock, the thread retries
 * after 0.25, 0.5, then every 1 ms up to the busy timeout, instead of SQLite's busy handler, whose sleeps
 * grow to 100 ms: with two processes committing (workers sharing a file), each waiting out the other's fsync, the
 * handler's growing sleeps gave SPEKE requests a p99 of 600–700 ms under a 3 ms fsync.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
${runClaim.toString()}
const runIssue = ${runIssue.toString()};
const closed = new Int32Array(workerData.closed);
const results = workerData.results;
const pause = new Int32Array(new SharedArrayBuffer(4));
${isBusy.toString()}
function begin(c) {
  const deadline = Date.now() + workerData.busyTimeoutMs;
  for (let wait = 0.25; ; wait = Math.min(1, wait * 2)) {
    try {
      return c.tx['BEGIN IMMEDIATE'].run();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, wait);
    }
  }
}
const connect = (file, synchronous) => {
  const db = new Database(file, { timeout: 0 });
  db.pragma('synchronous = ' + synchronous);
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = ON');
  db.pragma('wal_autocheckpoint = ' + workerData.autocheckpoint);
  const tx = {};
  for (const s of ['BEGIN IMMEDIATE', 'COMMIT', 'ROLLBACK', 'SAVEPOINT member', 'RELEASE member', 'ROLLBACK TO member']) tx[s] = db.prepare(s);
  return { db, tx };
};
const main = connect(workerData.main, 'FULL');
const audit = workerData.audit === workerData.main ? main : connect(workerData.audit, 'NORMAL');
const issue = {};
for (const [name, sql] of Object.entries(workerData.issueSql)) issue[name] = main.db.prepare(sql);
const auditInsert = audit.db.prepare(workerData.auditSql);
const described = (err) => ({ message: String(err && err.message), code: err && typeof err.code === 'string' ? err.code : undefined });
function member(c, work) {
  c.tx['SAVEPOINT member'].run();
  try {
    const race = work();
    if (race) c.tx['ROLLBACK TO member'].run();
    c.tx['RELEASE member'].run();
    return race ? { ok: false, race } : { ok: true };
  } catch (err) {
    if (!c.db.inTransaction) throw err;
    c.tx['ROLLBACK TO member'].run();
    c.tx['RELEASE member'].run();
    return { ok: false, error: described(err) };
  }
}
function run(msg) {
  const c = msg.target === 'main' ? main : audit;
  try {
    begin(c);
    const outcomes = msg.target === 'main'
      ? msg.ops.map((op) => member(c, () => runIssue(issue, op)))
      : msg.ops.map((rows) => { for (const row of rows) auditInsert.run(...row); return { ok: true }; });
    c.tx['COMMIT'].run();
    return { id: msg.id, outcomes };
  } catch (err) {
    try { if (c.db.inTransaction) c.tx['ROLLBACK'].run(); } catch {}
    return { id: msg.id, failure: described(err) };
  }
}
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    for (const c of new Set([main, audit])) { try { c.db.close(); } catch {} }
    Atomics.store(closed, 0, 1);
    Atomics.notify(closed, 0);
    results.close();
    parentPort.close();
    return;
  }
  results.postMessage(run(msg));
});
`;

/** Where the thread's outcomes go: one pending write's promise. */
interface Pending {
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/** Settings of a SqliteWriterThread. */
export interface WriterThreadOptions {
  main: string;
  audit: string;
  busyTimeoutMs: number;
  /** The thread's own checkpoint threshold (pages). */
  autocheckpoint: number;
  /** What every write of a failed batch receives (the GroupCommitter's `batchError`). */
  batchError: (err: unknown) => unknown;
  /** What a race means to the caller (issuance races become the store's race errors). */
  raceError: (resourceId: string, race: IssueRace) => unknown;
}

/**
 * Group commit on a worker thread for the two writes every SPEKE request makes: its issuance (lease,
 * keys, claim) and its audit records. Writes submitted in one event-loop turn go to the thread as one
 * batch and share one transaction and one fsync, as with GroupCommitter; each promise settles after the
 * COMMIT returned, so a resolved write is durable. Off the event loop, the page writes and the fsync
 * (a sixth of a SPEKE v2 request) overlap with other requests' work. Other writes keep the loop's
 * GroupCommitter; the two take turns on the file's write lock like two processes would.
 */
export class SqliteWriterThread {
  private readonly worker: Worker;
  /** Where the thread answers: a port of our own, so `close` can read the last answers synchronously. */
  private readonly results: MessagePort;
  private readonly closed = new SharedArrayBuffer(4);
  private readonly queues: Record<Target, { ops: Op[]; waiting: Pending[] }> = {
    main: { ops: [], waiting: [] },
    audit: { ops: [], waiting: [] },
  };
  private scheduled = false;
  /** Whether a batch of that file is with the thread now. */
  private readonly busy: Record<Target, boolean> = { main: false, audit: false };
  private nextId = 1;
  private readonly inFlight = new Map<number, { target: Target; ops: Op[]; waiting: Pending[] }>();
  private failed: Error | undefined;
  private stopped = false;

  constructor(private readonly options: WriterThreadOptions) {
    const { port1, port2 } = new MessageChannel();
    this.results = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      transferList: [port2],
      workerData: {
        sqlite: require.resolve('better-sqlite3'),
        closed: this.closed,
        results: port2,
        main: options.main,
        audit: options.audit,
        busyTimeoutMs: options.busyTimeoutMs,
        autocheckpoint: options.autocheckpoint,
        issueSql: ISSUE_SQL,
        auditSql: AUDIT_INSERT_SQL,
      },
    });
    this.worker.unref();
    this.results.unref();
    this.results.on('message', (result: BatchResult) => this.settle(result));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', () => this.fail(new Error('SQLite writer thread exited')));
  }

  /** Whether writes go to the thread; false once it failed or was closed (callers then write on the loop). */
  get usable(): boolean {
    return this.failed === undefined && !this.stopped;
  }

  /** Issues (see runIssue) on the thread; resolves once committed, rejects with the race or the batch's error. */
  issue(op: IssueOp): Promise<void> {
    return this.submit('main', op);
  }

  /** Appends audit rows (bound parameters of AUDIT_INSERT_SQL) on the thread; resolves once committed. */
  appendAudit(rows: unknown[][]): Promise<void> {
    return this.submit('audit', rows);
  }

  private submit(target: Target, op: Op): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failed || this.stopped) return reject(this.options.batchError(this.failed ?? new Error('store closed')));
      const queue = this.queues[target];
      queue.ops.push(op);
      queue.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.post());
      }
    });
  }

  /**
   * Sends each file's queued writes to the thread as one batch, unless that file's previous batch is still
   * committing: then they wait for its answer and go together, so a batch is what arrived during one
   * commit (one fsync for all of them), not what arrived during one event-loop turn.
   */
  private post(): void {
    this.scheduled = false;
    for (const target of ['main', 'audit'] as const) this.postTarget(target);
  }

  private postTarget(target: Target, force = false): void {
    const queue = this.queues[target];
    if (queue.ops.length === 0 || (this.busy[target] && !force)) return;
    const id = this.nextId++;
    this.inFlight.set(id, { target, ...queue });
    this.busy[target] = true;
    this.queues[target] = { ops: [], waiting: [] };
    this.worker.postMessage({ id, target, ops: queue.ops });
  }

  private settle(result: BatchResult): void {
    const batch = this.inFlight.get(result.id);
    if (!batch) return;
    this.inFlight.delete(result.id);
    this.busy[batch.target] = false;
    if (!this.stopped) this.postTarget(batch.target);
    if (result.failure) {
      const reason = this.options.batchError(sqliteError(result.failure));
      for (const w of batch.waiting) w.reject(reason);
      return;
    }
    batch.waiting.forEach((w, i) => {
      const outcome = result.outcomes?.[i] as Outcome;
      if (outcome.ok) w.resolve();
      else if ('race' in outcome) w.reject(this.options.raceError((batch.ops[i] as IssueOp).resourceId, outcome.race));
      else w.reject(sqliteError(outcome.error));
    });
  }

  /** The thread is gone: what it was sent, and what waits to be sent, fails as a batch would. */
  private fail(err: Error): void {
    this.failed ??= err;
    const reason = this.options.batchError(err);
    for (const batch of this.inFlight.values()) for (const w of batch.waiting) w.reject(reason);
    this.inFlight.clear();
    for (const target of ['main', 'audit'] as const) {
      for (const w of this.queues[target].waiting) w.reject(reason);
      this.queues[target] = { ops: [], waiting: [] };
    }
  }

  /**
   * Sends what is queued, then waits (synchronously, as closing the database is) until the thread has
   * committed everything it was sent and closed its connections, and settles every write from its answers.
   */
  close(): void {
    if (this.stopped) return;
    if (!this.failed) {
      for (const target of ['main', 'audit'] as const) this.postTarget(target, true);
      this.worker.postMessage('close');
      Atomics.wait(new Int32Array(this.closed), 0, 0, CLOSE_WAIT_MS);
      for (let m = receiveMessageOnPort(this.results); m; m = receiveMessageOnPort(this.results)) {
        this.settle(m.message as BatchResult);
      }
    }
    this.stopped = true;
    this.results.close();
    this.fail(new Error('store closed'));
    void this.worker.terminate();
  }
}

/** An Error carrying SQLite's code, as better-sqlite3 throws it, so outage mapping reads it the same way. */
function sqliteError(described: { message: string; code?: string }): Error {
  return Object.assign(new Error(described.message), described.code === undefined ? {} : { code: described.code });
}
