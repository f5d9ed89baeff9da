import { RateLimiter } from './rate-limit';
import { isRateTake, type RateBlockMessage } from './shared-rate-limit';

/**
 * The primary's side: one bucket per limit and key for all workers together, fed by the workers' counts;
 * when a key's bucket runs dry, every worker is told until when to refuse it.
 */
export class RateLimitHub {
  private readonly limiters = new Map<string, RateLimiter>();

  constructor(
    private readonly broadcast: (message: RateBlockMessage) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a worker's message; false when it is not one of the hub's. */
  handle(message: unknown): boolean {
    if (!isRateTake(message)) return false;
    let limiter = this.limiters.get(message.limit);
    if (!limiter) {
      limiter = new RateLimiter(message.perMinute, message.maxKeys, this.now);
      this.limiters.set(message.limit, limiter);
    }
    for (const entry of message.counts) {
      const [key, count] = entry;
      if (typeof key !== 'string' || !Number.isInteger(count) || count < 1) continue;
      for (let i = 0; i < Math.min(count, message.perMinute); i++) limiter.take(key);
      const wait = limiter.retryAfter(key);
      if (wait > 0)
        this.broadcast({ type: 'keyplane:rate-block', limit: message.limit, key, until: this.now() + wait * 1000 });
    }
    return true;
  }
}
