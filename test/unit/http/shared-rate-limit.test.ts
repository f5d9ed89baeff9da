import { RateLimitHub } from '../../../src/http/rate-limit-hub';
import {
  SharedRateLimiter,
  type RateBlockMessage,
  type RateChannel,
  type RateTakeMessage,
} from '../../../src/http/shared-rate-limit';

/** A primary and its workers in memory: each worker's messages reach the hub, the hub's every worker. */
function cluster(workers: number, perMinute: number, maxKeys = 100) {
  let now = 1_000_000;
  const clock = () => now;
  const listeners: ((m: unknown) => void)[] = [];
  const sent: RateTakeMessage[] = [];
  const blocks: RateBlockMessage[] = [];
  const hub = new RateLimitHub((m) => {
    blocks.push(m);
    for (const l of listeners) l(m);
  }, clock);
  const channel: RateChannel = {
    send: (m) => {
      sent.push(m);
      hub.handle(m);
    },
    onMessage: (l) => void listeners.push(l),
  };
  const limiters = Array.from(
    { length: workers },
    () => new SharedRateLimiter('failed-auth', perMinute, maxKeys, channel, clock),
  );
  return { hub, limiters, sent, blocks, advance: (ms: number) => (now += ms) };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('SharedRateLimiter with a RateLimitHub', () => {
  it('counts the workers together: the limit holds for the machine, not per worker', async () => {
    const { limiters, blocks } = cluster(2, 10);
    const [a, b] = limiters as [SharedRateLimiter, SharedRateLimiter];
    for (let i = 0; i < 5; i++) a.take('203.0.113.9');
    for (let i = 0; i < 4; i++) b.take('203.0.113.9');
    await turn();
    expect(blocks).toEqual([]);
    expect(a.retryAfter('203.0.113.9')).toBe(0);
    b.take('203.0.113.9');
    await turn();
    expect(blocks).toHaveLength(1);
    // Alone, each worker would allow five more; together the address is refused everywhere.
    expect(a.retryAfter('203.0.113.9')).toBeGreaterThan(0);
    expect(b.retryAfter('203.0.113.9')).toBe(6);
    expect(a.retryAfter('198.51.100.1')).toBe(0);
  });

  it('lifts the block when the bucket has refilled', async () => {
    const { limiters, advance } = cluster(2, 60);
    const [a, b] = limiters as [SharedRateLimiter, SharedRateLimiter];
    for (let i = 0; i < 30; i++) a.take('k');
    for (let i = 0; i < 30; i++) b.take('k');
    await turn();
    expect(a.retryAfter('k')).toBe(1);
    advance(999);
    expect(a.retryAfter('k')).toBe(1);
    advance(1);
    expect(b.retryAfter('k')).toBe(0);
    expect(b.tryTake('k')).toBe(0);
  });

  it('still limits one worker on its own before any message arrives', () => {
    const { limiters, sent } = cluster(2, 3);
    const a = limiters[0] as SharedRateLimiter;
    expect([a.tryTake('c'), a.tryTake('c'), a.tryTake('c')]).toEqual([0, 0, 0]);
    expect(a.tryTake('c')).toBe(20);
    expect(sent).toEqual([]);
  });

  it('sends one message per turn with the counts of that turn', async () => {
    const { limiters, sent } = cluster(1, 100);
    const a = limiters[0] as SharedRateLimiter;
    a.take('x');
    a.take('x');
    a.take('y');
    await turn();
    a.take('x');
    await turn();
    expect(sent.map((m) => m.counts)).toEqual([
      [
        ['x', 2],
        ['y', 1],
      ],
      [['x', 1]],
    ]);
  });

  it('keeps at most maxKeys blocks in a worker', async () => {
    const { limiters } = cluster(1, 1, 100);
    const a = limiters[0] as SharedRateLimiter;
    for (let i = 0; i < 250; i++) a.take(`ip-${i}`);
    await turn();
    const blocked = (a as unknown as { blocked: Map<string, number> }).blocked;
    expect(blocked.size).toBe(100);
    expect(blocked.has('ip-249')).toBe(true);
  });
});

describe('RateLimitHub', () => {
  it('ignores what is not a well-formed count, and bounds the work of one', () => {
    const blocks: RateBlockMessage[] = [];
    const hub = new RateLimitHub(
      (m) => blocks.push(m),
      () => 0,
    );
    expect(hub.handle({ type: 'keyplane:listening', port: 1 })).toBe(false);
    expect(hub.handle({ type: 'keyplane:rate-take', limit: 'l', perMinute: 0, maxKeys: 1, counts: [] })).toBe(false);
    const counts = [
      ['a', 1e12],
      ['b', -1],
      [7, 1],
      ['c', 1.5],
    ];
    expect(hub.handle({ type: 'keyplane:rate-take', limit: 'l', perMinute: 5, maxKeys: 10, counts })).toBe(true);
    expect(blocks.map((b) => b.key)).toEqual(['a']);
  });
});
