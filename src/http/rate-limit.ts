/** One client's bucket: tokens left and when they were last counted (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key (a client IP, a credential), in memory: `perMinute` tokens, refilled evenly,
 * one taken per counted request. At most `maxKeys` buckets: the least recently used is forgotten
 * first (a Map keeps insertion order; a touched key is re-inserted), so memory stays bounded however
 * many addresses an attacker rotates through. Forgetting a key only gives it a full bucket again.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {
    if (perMinute < 1 || maxKeys < 1) throw new RangeError('RateLimiter needs perMinute ≥ 1 and maxKeys ≥ 1');
    this.refillPerMs = perMinute / 60_000;
  }

  /** Buckets held now (never more than maxKeys). */
  get size(): number {
    return this.buckets.size;
  }

  private current(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.refillPerMs);
    bucket.at = now;
    // Most recently used goes last; eviction takes the first.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Seconds until `key` may make a counted request again; 0 when it may now. */
  retryAfter(key: string): number {
    const bucket = this.current(key);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000));
  }

  /** Counts one request against `key`. */
  take(key: string): void {
    const bucket = this.current(key);
    if (bucket) {
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      return;
    }
    this.buckets.set(key, { tokens: this.perMinute - 1, at: this.now() });
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }

  /** Takes one token if there is one; returns 0, or the seconds to wait when there is none. */
  tryTake(key: string): number {
    const wait = this.retryAfter(key);
    if (wait === 0) this.take(key);
    return wait;
  }
}
