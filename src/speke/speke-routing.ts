import type { SpekeVersion } from '../cpix/cpix-model';
import type { SpekeEngine, SpekeJob } from './speke-engine';

/**
 * Documents of at least this many bytes are read and answered on a SPEKE thread whatever the machine:
 * below it a document costs the event loop about a millisecond (a typical SPEKE v2 request is under
 * 10 KiB), above it up to the body limit's ~0.3 s, which must not hold up key delivery.
 */
export const LARGE_SPEKE_DOCUMENT_BYTES = 32 * 1024;

/** How RoutedSpekeEngine shares documents between the loop and the threads. */
export interface SpekeRouting {
  /** How many threads the threaded engine runs (its large documents are counted against them). */
  threads: number;
  /**
   * Small documents go to the threads too, unless every thread holds a large one: true when the
   * machine has a core the worker processes leave free, so the thread's work runs beside the loop.
   * false when every core runs a worker: a small document's hop between threads then costs more than
   * reading it in the loop.
   */
  smallOnThreads: boolean;
  /** The size from which a document always goes to a thread (default LARGE_SPEKE_DOCUMENT_BYTES). */
  largeBytes?: number;
}

/**
 * Chooses, per document, where a SPEKE request is read and answered: large documents always on a thread,
 * so one hostile or huge document never stalls the loop; small documents on a thread only while a core
 * is free for it and the threads are not busy with large ones, so they never queue behind a large
 * document either.
 */
export class RoutedSpekeEngine implements SpekeEngine {
  private largeOpen = 0;
  private readonly largeBytes: number;

  constructor(
    private readonly local: SpekeEngine,
    private readonly threaded: SpekeEngine,
    private readonly routing: SpekeRouting,
  ) {
    this.largeBytes = routing.largeBytes ?? LARGE_SPEKE_DOCUMENT_BYTES;
  }

  async begin(body: string, speke: SpekeVersion): Promise<SpekeJob> {
    // UTF-16 length: a lower bound of the UTF-8 size, and the parser's work grows with it.
    if (body.length >= this.largeBytes) return this.beginLarge(body, speke);
    const threadsFree = this.largeOpen < this.routing.threads;
    return this.routing.smallOnThreads && threadsFree
      ? this.threaded.begin(body, speke)
      : this.local.begin(body, speke);
  }

  private async beginLarge(body: string, speke: SpekeVersion): Promise<SpekeJob> {
    this.largeOpen++;
    let job: SpekeJob;
    try {
      job = await this.threaded.begin(body, speke);
    } catch (err) {
      this.largeOpen--;
      throw err;
    }
    let finished = false;
    return {
      plan: job.plan,
      answer: (issued) => job.answer(issued),
      done: () => {
        if (!finished) {
          finished = true;
          this.largeOpen--;
        }
        job.done();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close?.(), this.threaded.close?.()]);
  }
}
