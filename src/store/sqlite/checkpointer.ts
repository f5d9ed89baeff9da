import { Worker } from 'node:worker_threads';

/** How often the worker copies the WAL back into the database files. */
const INTERVAL_MS = 100;
/** How long `close` waits for the worker to close its connections (a checkpoint in progress finishes first). */
const CLOSE_WAIT_MS = 5000;

/**
 * The worker: its own connection to each file, a PASSIVE checkpoint of each every interval (it never waits
 * for a lock and never blocks a writer or a reader), and a clean close on request, signalled through `closed`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const closed = new Int32Array(workerData.closed);
const dbs = workerData.files.map((file) => new Database(file, { timeout: 0 }));
const timer = setInterval(() => {
  for (const db of dbs) {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // The writer's own checkpoint (wal_autocheckpoint) is still there as a backstop.
    }
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  for (const db of dbs) {
    try { db.close(); } catch {}
  }
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
  parentPort.close();
});
`;

/**
 * Checkpoints WAL-mode SQLite files from a worker thread. A checkpoint (copying the WAL's pages back into
 * the database file, with its fsyncs) otherwise runs inside whichever commit crosses `wal_autocheckpoint`,
 * holding the event loop for milliseconds: ~10 % of a SPEKE v2 request's CPU. Off the loop, it overlaps
 * with request handling; the writer keeps a higher autocheckpoint as a backstop.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly closed = new SharedArrayBuffer(4);
  private stopped = false;
  private exited = false;

  constructor(files: string[], intervalMs = INTERVAL_MS) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { files, intervalMs, sqlite: require.resolve('better-sqlite3'), closed: this.closed },
    });
    this.worker.unref();
    // A worker that failed to start (file unreadable) leaves the backstop; the error is not the request's.
    this.worker.on('error', () => undefined);
    this.worker.on('exit', () => (this.exited = true));
  }

  /**
   * Stops the worker and waits (synchronously, as closing the database is) until its connections are
   * closed, so the writer's connection is the last one and removes the WAL when it closes.
   */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.exited) {
      this.worker.postMessage('close');
      Atomics.wait(new Int32Array(this.closed), 0, 0, CLOSE_WAIT_MS);
    }
    void this.worker.terminate();
  }
}
