import fs from 'node:fs';
import path from 'node:path';
import type { SpekeVersion } from '../../src/cpix/cpix-model';
import { createDrmRegistry } from '../../src/drm/registry';
import { KeyplaneError } from '../../src/errors';
import { keyUrlBuilder } from '../../src/keys/key-url';
import { LocalSpekeEngine, type SpekeEngine } from '../../src/speke/speke-engine';
import { LARGE_SPEKE_DOCUMENT_BYTES, RoutedSpekeEngine } from '../../src/speke/speke-routing';
import { ThreadedSpekeEngine } from '../../src/speke/speke-threads';
import { v2RotationRequest } from '../helpers/cost-docs';
import { fixture } from '../helpers/fixtures';
import { SETTINGS } from '../unit/drm/context';

// The server reads and answers SPEKE documents on worker threads (ThreadedSpekeEngine, the compiled
// dist/src/speke/speke-worker.js that the test set-up builds). It must answer exactly as the event loop
// does, fail with the same errors, survive a thread's death, and leave the loop free meanwhile.

const WORKER = path.resolve(__dirname, '../../dist/src/speke/speke-worker.js');
const PUBLIC_URL = 'https://keys.example.com';

const local = new LocalSpekeEngine(createDrmRegistry(SETTINGS), keyUrlBuilder(PUBLIC_URL));
let threaded: ThreadedSpekeEngine;

beforeAll(() => {
  expect(fs.existsSync(WORKER)).toBe(true);
  threaded = new ThreadedSpekeEngine({ drm: SETTINGS, publicUrl: PUBLIC_URL }, 2, WORKER);
});
afterAll(() => threaded.close());

/** The plan and the answer an engine gives for a document, with keys derived from each KID. */
async function run(engine: SpekeEngine, body: string, speke: SpekeVersion) {
  const job = await engine.begin(body, speke);
  try {
    const issued = job.plan.keys.map((k, i) => ({
      kid: k.kid,
      key: Buffer.alloc(16, i + 1),
      iv: k.iv ?? Buffer.alloc(16, i + 7),
    }));
    return { plan: job.plan, xml: await job.answer(issued), again: await job.answer(issued) };
  } finally {
    job.done();
  }
}

async function refusal(engine: SpekeEngine, body: string, speke: SpekeVersion): Promise<KeyplaneError> {
  try {
    await engine.begin(body, speke);
  } catch (err) {
    if (err instanceof KeyplaneError) return err;
    throw err;
  }
  throw new Error('accepted');
}

const error = (e: KeyplaneError) => ({
  name: e.name,
  status: e.status,
  code: e.code,
  message: e.message,
  details: e.details,
});

describe('SPEKE on worker threads', () => {
  it.each([
    ['v1/hls-single-key.xml', '1.0'],
    ['v1/hls-key-period.xml', '1.0'],
    ['v2/aws/vod-example.xml', '2.0'],
    ['v2/aws/v21-widevine-master.xml', '2.1'],
    ['v2/valid-2.1/shared--wv-pr-fp--rot.xml', '2.1'],
  ] as const)('answers %s exactly as the event loop does, twice', async (file, speke) => {
    const body = fixture(file);
    const [mine, theirs] = await Promise.all([run(local, body, speke), run(threaded, body, speke)]);
    expect(theirs.plan).toEqual(mine.plan);
    expect(theirs.xml).toBe(mine.xml);
    expect(theirs.again).toBe(mine.xml);
  });

  it.each([
    ['not xml <', '1.0'],
    [fixture('v1/rejected/bad-kid.xml'), '1.0'],
    [fixture('v2/rejected/bad-kid.xml'), '2.0'],
    [`<a>${'<b/>'.repeat(100_001)}</a>`, '1.0'],
  ] as const)('fails with the same error as the event loop (case %#)', async (body, speke) => {
    const [mine, theirs] = await Promise.all([refusal(local, body, speke), refusal(threaded, body, speke)]);
    expect(error(theirs)).toEqual(error(mine));
  });

  it('leaves the event loop free while a large document is read', async () => {
    const body = v2RotationRequest('big', 3000, 'cenc');
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 1);
    const started = Date.now();
    const { plan } = await run(threaded, body, '2.0');
    const elapsed = Date.now() - started;
    clearInterval(ticking);
    expect(plan.keys).toHaveLength(3000);
    // The loop ticked through the read and the answer: at least a tick for every 5 ms they took.
    expect(ticks).toBeGreaterThan(elapsed / 5);
  });

  it('reads a large document on the thread even where small ones stay in the loop (a worker per core)', async () => {
    const routedEngine = new RoutedSpekeEngine(local, threaded, { threads: 2, smallOnThreads: false });
    const body = v2RotationRequest('big-routed', 3000, 'cenc');
    expect(body.length).toBeGreaterThanOrEqual(LARGE_SPEKE_DOCUMENT_BYTES);
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 1);
    const started = Date.now();
    const routedRun = await run(routedEngine, body, '2.0');
    const elapsed = Date.now() - started;
    clearInterval(ticking);
    expect(ticks).toBeGreaterThan(elapsed / 5);
    expect(routedRun.xml).toBe((await run(local, body, '2.0')).xml);
    const small = fixture('v2/aws/vod-example.xml');
    expect((await run(routedEngine, small, '2.0')).xml).toBe((await run(local, small, '2.0')).xml);
  });

  it('replaces a thread that died: what it held fails with a 503, the next request is answered', async () => {
    const one = new ThreadedSpekeEngine({ drm: SETTINGS, publicUrl: PUBLIC_URL }, 1, WORKER);
    try {
      const job = await one.begin(fixture('v1/hls-single-key.xml'), '1.0');
      const thread = (one as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads[0];
      await thread?.worker.terminate();
      await expect(job.answer([])).rejects.toMatchObject({ status: 503 });
      job.done();
      expect((await run(one, fixture('v1/hls-single-key.xml'), '1.0')).xml).toContain('<cpix:CPIX');
    } finally {
      await one.close();
    }
  });
});
