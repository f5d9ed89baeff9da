/**
 * `keyplane serve --workers N`: a node:cluster primary that runs N server processes on one port (the
 * primary accepts connections and hands them out round-robin), restarts a worker that dies with a
 * growing delay, gives up when workers crash in a loop, and on SIGTERM/SIGINT drains every worker.
 * The primary opens no store: workers start one at a time, so the first creates the database, master
 * key and admin key, and the others find them. Correctness across workers rests on the store (SQLite:
 * one WAL file, every write in a `BEGIN IMMEDIATE` transaction that re-reads what it decides on).
 */
import cluster, { type Worker } from 'node:cluster';
import { RateLimitHub } from '../http/rate-limit-hub';

/** The message a worker sends its primary once its server listens. */
export interface ListeningMessage {
  type: 'keyplane:listening';
  port: number;
}

/** True for the message a worker sends once it listens. */
export function isListeningMessage(message: unknown): message is ListeningMessage {
  return (message as ListeningMessage | undefined)?.type === 'keyplane:listening';
}

/** Restart policy (defaults in DEFAULT_RESTARTS). */
interface RestartPolicy {
  /** Delay before the first restart; doubled for each further crash in the window. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** More than `maxCrashes` crashes within `windowMs` is a crash loop: the primary stops everything. */
  maxCrashes: number;
  windowMs: number;
  /** How long a draining worker may take before it is killed. */
  drainMs: number;
}

/** Restart with 0.1, 0.2, 0.4 … 5 s delay; six crashes within a minute are a loop. */
const DEFAULT_RESTARTS: RestartPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  maxCrashes: 5,
  windowMs: 60_000,
  drainMs: 30_000,
};

/** What the primary reports (one line each, to stderr). */
type Note = (line: string) => void;

/** A running cluster: the port the workers share, and the exit code once everything stopped. */
export interface WorkerCluster {
  port: number;
  exited: Promise<number>;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Forks one worker and resolves with its port once it listens; rejects if it exits first. */
function forkWorker(): { worker: Worker; listening: Promise<number> } {
  const worker = cluster.fork();
  const listening = new Promise<number>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!isListeningMessage(message)) return;
      worker.off('exit', onExit);
      resolve(message.port);
    };
    const onExit = (code: number | null, signal: string | null) => {
      worker.off('message', onMessage);
      reject(new Error(`worker ${worker.process.pid} ${describeExit(code, signal)} before listening`));
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
  return { worker, listening };
}

/**
 * Starts `count` workers one after another (each re-runs this command: cluster.fork) and supervises
 * them. Resolves once all listen; rejects if one fails to start (the others are stopped first).
 */
export async function startWorkers(
  count: number,
  note: Note,
  policy: RestartPolicy = DEFAULT_RESTARTS,
): Promise<WorkerCluster> {
  const live = new Set<Worker>();
  const crashes: number[] = [];
  let stopping = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (finish = resolve));

  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    if (live.size === 0) return finish(exitCode);
    for (const worker of live) {
      worker.process.kill('SIGTERM');
      setTimeout(() => worker.process.kill('SIGKILL'), policy.drainMs).unref();
    }
  };

  const restart = () => {
    if (stopping) return;
    const { worker, listening } = forkWorker();
    watch(worker);
    listening.then(
      () => note(`worker ${worker.process.pid} restarted and listening`),
      () => undefined, // its exit is handled (and counted) by watch()
    );
  };

  // The workers' rate limits, counted together: a client's budget is the machine's, not each worker's.
  const limits = new RateLimitHub((message) => {
    for (const worker of live) if (worker.isConnected()) worker.send(message, undefined, () => undefined);
  });

  const watch = (worker: Worker) => {
    live.add(worker);
    worker.on('message', (message: unknown) => limits.handle(message));
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      if (stopping) {
        if (live.size === 0) finish(exitCode);
        return;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && (crashes[0] as number) < now - policy.windowMs) crashes.shift();
      if (crashes.length > policy.maxCrashes) {
        note(`workers crashed ${crashes.length} times within ${policy.windowMs / 1000} s: giving up`);
        return stopAll(1);
      }
      const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (crashes.length - 1));
      note(`worker ${worker.process.pid} ${describeExit(code, signal)}; restarting it in ${delay} ms`);
      setTimeout(restart, delay);
    });
  };

  let port = 0;
  for (let i = 0; i < count; i++) {
    const { worker, listening } = forkWorker();
    live.add(worker);
    try {
      port = await listening;
    } catch (err) {
      live.delete(worker);
      stopAll(1);
      await exited;
      throw err;
    }
    watch(worker);
  }
  const onSignal = () => stopAll(0);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { port, exited };
}

/** In a worker: tells the primary the server listens (on `port`). */
export function reportListening(port: number): void {
  const message: ListeningMessage = { type: 'keyplane:listening', port };
  process.send?.(message);
}
