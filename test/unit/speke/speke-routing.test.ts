import type { SpekeVersion } from '../../../src/cpix/cpix-model';
import type { SpekeEngine, SpekeJob } from '../../../src/speke/speke-engine';
import { LARGE_SPEKE_DOCUMENT_BYTES, RoutedSpekeEngine } from '../../../src/speke/speke-routing';

/** An engine that records which documents it was given, and fails those starting with "bad". */
class RecordingEngine implements SpekeEngine {
  readonly bodies: string[] = [];
  closed = false;
  doneCalls = 0;

  constructor(private readonly name: string) {}

  async begin(body: string, _speke: SpekeVersion): Promise<SpekeJob> {
    this.bodies.push(body);
    if (body.startsWith('bad')) throw new Error(`${this.name} refused`);
    return {
      plan: { resourceId: this.name, keys: [], rotating: false },
      answer: async () => `${this.name}:${body.length}`,
      done: () => void this.doneCalls++,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const small = 'x'.repeat(100);
const large = 'y'.repeat(LARGE_SPEKE_DOCUMENT_BYTES);

function routed(smallOnThreads: boolean, threads = 1) {
  const local = new RecordingEngine('loop');
  const threaded = new RecordingEngine('thread');
  return { local, threaded, engine: new RoutedSpekeEngine(local, threaded, { threads, smallOnThreads }) };
}

const where = async (engine: SpekeEngine, body: string) => (await engine.begin(body, '1.0')).plan.resourceId;

describe('RoutedSpekeEngine', () => {
  it('sends a large document to a thread whether or not a core is free', async () => {
    for (const free of [true, false]) {
      const { engine } = routed(free);
      const job = await engine.begin(large, '1.0');
      expect(job.plan.resourceId).toBe('thread');
      job.done();
      expect(await where(engine, large.slice(1))).toBe(free ? 'thread' : 'loop');
    }
  });

  it('reads small documents in the loop when every core runs a worker', async () => {
    const { engine, threaded } = routed(false);
    expect(await where(engine, small)).toBe('loop');
    expect(threaded.bodies).toEqual([]);
  });

  it('sends small documents to the threads while a core is free and no large one holds them all', async () => {
    const { engine } = routed(true, 2);
    expect(await where(engine, small)).toBe('thread');
    const first = await engine.begin(large, '2.0');
    expect(await where(engine, small)).toBe('thread');
    const second = await engine.begin(large, '2.0');
    expect(await where(engine, small)).toBe('loop');
    first.done();
    first.done();
    expect(await where(engine, small)).toBe('thread');
    second.done();
    expect(await where(engine, small)).toBe('thread');
  });

  it('forgets a large document the thread refused, and answers through the thread that read it', async () => {
    const { engine, threaded } = routed(true);
    await expect(engine.begin(`bad${large}`, '1.0')).rejects.toThrow('thread refused');
    expect(await where(engine, small)).toBe('thread');
    const job = await engine.begin(large, '1.0');
    await expect(job.answer([])).resolves.toBe(`thread:${large.length}`);
    job.done();
    expect(threaded.doneCalls).toBe(1);
  });

  it('closes both engines', async () => {
    const { engine, local, threaded } = routed(true);
    await engine.close();
    expect([local.closed, threaded.closed]).toEqual([true, true]);
  });
});
