import { RateLimiter } from './rate-limit';

/** What a worker tells its primary: requests counted against a limit since its last message. */
export interface RateTakeMessage {
  type: 'keyplane:rate-take';
  limit: string;
  perMinute: number;
  maxKeys: number;
  counts: [string, number][];
}

/** What the primary tells every worker: `key` may make no counted request before `until` (ms since epoch). */
export interface RateBlockMessage {
  type: 'keyplane:rate-block';
  limit: string;
  key: string;
  until: number;
}

/** How a worker reaches its primary (process IPC in a cluster worker; in memory in tests). */
export interface RateChannel {
  send(message: RateTakeMessage): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** The counting a limit needs: RateLimiter alone, SharedRateLimiter in a worker of `serve --workers N`. */
export interface RateCounter {
  retryAfter(key: string): number;
  take(key: string): void;
  tryTake(key: string): number;
  readonly size: number;
}

function isBlock(message: unknown): message is RateBlockMessage {
  const m = message as RateBlockMessage | undefined;
  return m?.type === 'keyplane:rate-block' && typeof m.key === 'string' && typeof m.until === 'number';
}

/** True for a well-formed count from a worker (the primary checks before it trusts the numbers). */
export function isRateTake(message: unknown): message is RateTakeMessage {
  const m = message as RateTakeMessage | undefined;
  return (
    m?.type === 'keyplane:rate-take' &&
    typeof m.limit === 'string' &&
    Number.isInteger(m.perMinute) &&
    m.perMinute >= 1 &&
    Number.isInteger(m.maxKeys) &&
    m.maxKeys >= 1 &&
    Array.isArray(m.counts)
  );
}

/**
 * A worker's side of a limit shared by every worker of `serve --workers N`: its own bucket per key, as a
 * single process has (so no worker ever allows more than the limit), plus the blocks the primary
 * announces when the count of all workers together runs dry. Counted requests reach the primary in one
 * message per event-loop turn; a block reaches the workers a moment later, so a fast burst spread over
 * workers may pass the limit by the requests of that moment, never by N times.
 */
export class SharedRateLimiter implements RateCounter {
  private readonly local: RateLimiter;
  /** Keys the primary blocked, with until when (ms); most recent last, at most maxKeys. */
  private readonly blocked = new Map<string, number>();
  private pending = new Map<string, number>();

  constructor(
    private readonly limit: string,
    private readonly perMinute: number,
    private readonly maxKeys: number,
    private readonly channel: RateChannel,
    private readonly now: () => number = Date.now,
  ) {
    this.local = new RateLimiter(perMinute, maxKeys, now);
    channel.onMessage((message) => {
      if (isBlock(message) && message.limit === this.limit) this.block(message.key, message.until);
    });
  }

  get size(): number {
    return this.local.size;
  }

  retryAfter(key: string): number {
    const local = this.local.retryAfter(key);
    const until = this.blocked.get(key);
    if (until === undefined) return local;
    const ms = until - this.now();
    if (ms <= 0) {
      this.blocked.delete(key);
      return local;
    }
    return Math.max(local, Math.ceil(ms / 1000));
  }

  take(key: string): void {
    this.local.take(key);
    if (this.pending.size === 0) setImmediate(() => this.flush());
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  tryTake(key: string): number {
    const wait = this.retryAfter(key);
    if (wait === 0) this.take(key);
    return wait;
  }

  private flush(): void {
    const counts = [...this.pending];
    this.pending = new Map();
    if (counts.length === 0) return;
    const { limit, perMinute, maxKeys } = this;
    this.channel.send({ type: 'keyplane:rate-take', limit, perMinute, maxKeys, counts });
  }

  private block(key: string, until: number): void {
    this.blocked.delete(key);
    this.blocked.set(key, until);
    if (this.blocked.size > this.maxKeys) {
      const oldest = this.blocked.keys().next().value;
      if (oldest !== undefined) this.blocked.delete(oldest);
    }
  }
}

/** The channel of a cluster worker: `process.send` to the primary, its messages back. */
export function processRateChannel(): RateChannel {
  return {
    send: (message) => {
      // A primary already gone (the worker is draining) simply gets no more counts.
      if (process.connected) process.send?.(message, undefined, {}, () => undefined);
    },
    onMessage: (listener) => void process.on('message', listener),
  };
}
