import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SpekeVersion } from '../cpix/cpix-model';
import { KeyplaneError, ServiceUnavailableError } from '../errors';
import type { IssuedKey } from '../keys/key-service';
import type { SpekeEngine, SpekeJob, SpekePlan } from './speke-engine';
import type { SpekeWorkerCall, SpekeWorkerError, SpekeWorkerReply, SpekeWorkerSettings } from './speke-worker';

/** The thread's entry point, next to this file once compiled (absent when running the TypeScript sources). */
const WORKER_FILE = path.join(__dirname, 'speke-worker.js');

/** Whether SPEKE threads can start here: only from the compiled build, where the worker's file exists. */
export function spekeThreadsAvailable(): boolean {
  return fs.existsSync(WORKER_FILE);
}

/** A KeyplaneError (same status, code, message, headers, details and name) or a plain Error, rebuilt from the thread. */
function rebuilt(e: SpekeWorkerError): Error {
  const err =
    e.status !== undefined && e.code !== undefined
      ? new KeyplaneError(e.status, e.code, e.message, { headers: e.headers, details: e.details })
      : new Error(e.message);
  err.name = e.name;
  return err;
}

const copy = (b: Buffer): Uint8Array => new Uint8Array(b);

/** What a request held by a thread that died gets: retryable, as a store outage is. */
const lostThread = () => new ServiceUnavailableError('SPEKE worker thread stopped; retry the request', 1);

/** A call as the pool writes it, before it is numbered. */
type Unnumbered<T> = T extends unknown ? Omit<T, 'req'> : never;

/** One worker thread, the calls waiting for its reply, and how many SPEKE requests it holds. */
class EngineThread {
  private worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (r: SpekeWorkerReply) => void; reject: (e: unknown) => void }
  >();
  private nextReq = 1;
  /** SPEKE requests open on this thread (begun, not done): the pool gives new ones to the least loaded. */
  open = 0;
  /** Counts restarts: a request read by an earlier worker cannot be answered by this one. */
  generation = 0;
  private closing = false;

  constructor(
    private readonly settings: SpekeWorkerSettings,
    private readonly file: string,
  ) {
    this.worker = this.start();
  }

  private start(): Worker {
    const worker = new Worker(this.file, { workerData: this.settings });
    worker.unref();
    worker.on('message', (reply: SpekeWorkerReply) => {
      const w = this.waiting.get(reply.req);
      this.waiting.delete(reply.req);
      w?.resolve(reply);
    });
    // A thread that dies (our bug, or out of memory) fails what it held with a 503 and is replaced.
    worker.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(lostThread());
      this.waiting.clear();
      if (!this.closing) {
        this.generation++;
        this.worker = this.start();
      }
    });
    worker.on('error', () => undefined);
    return worker;
  }

  call(call: Unnumbered<Extract<SpekeWorkerCall, { req: number }>>, generation: number): Promise<SpekeWorkerReply> {
    const req = this.nextReq++;
    return new Promise<SpekeWorkerReply>((resolve, reject) => {
      if (generation !== this.generation) return reject(lostThread());
      this.waiting.set(req, { resolve, reject });
      this.worker.postMessage({ ...call, req });
    }).then((reply) => {
      if (reply.error) throw rebuilt(reply.error);
      return reply;
    });
  }

  post(call: SpekeWorkerCall): void {
    this.worker.postMessage(call);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

/**
 * Reads and answers SPEKE requests on worker threads: parsing the CPIX document, signalling, filling and
 * serializing (three fifths of a SPEKE v2 request's time in the event loop) run beside the loop, so key
 * deliveries and other requests are not held up by a large document, and a second core does the work. A
 * request stays on the thread that read it, which keeps its parsed document until `done`.
 */
export class ThreadedSpekeEngine implements SpekeEngine {
  private readonly threads: EngineThread[];
  private nextJob = 1;

  /** `file`: the compiled `speke-worker.js` (tests running the TypeScript sources pass dist's). */
  constructor(settings: SpekeWorkerSettings, size: number, file = WORKER_FILE) {
    this.threads = Array.from({ length: size }, () => new EngineThread(settings, file));
  }

  async begin(body: string, speke: SpekeVersion): Promise<SpekeJob> {
    const thread = this.threads.reduce((a, b) => (b.open < a.open ? b : a));
    const job = this.nextJob++;
    const { generation } = thread;
    thread.open++;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      thread.open--;
      thread.post({ op: 'done', job });
    };
    let reply: SpekeWorkerReply;
    try {
      reply = await thread.call({ op: 'begin', job, body, speke }, generation);
    } catch (err) {
      done();
      throw err;
    }
    const plan = reply.plan as SpekePlan;
    for (const k of plan.keys) if (k.iv) k.iv = Buffer.from(k.iv.buffer, k.iv.byteOffset, k.iv.byteLength);
    return {
      plan,
      answer: async (issued: IssuedKey[]) => {
        const keys = issued.map((k) => ({ kid: k.kid, key: copy(k.key), iv: copy(k.iv) }));
        return (await thread.call({ op: 'answer', job, issued: keys }, generation)).xml as string;
      },
      done,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
