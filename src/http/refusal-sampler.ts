/** The audit sampling window: one minute. */
const REFUSAL_WINDOW_MS = 60_000;
/** Refusals recorded per window across all keys, at most: bounds the audit writes a flood of new IPs causes. */
export const MAX_SAMPLED_PER_WINDOW = 1000;

/** What one window saw: how many anonymous refusals were recorded, and how many were left out. */
interface RefusalWindow {
  start: Date;
  recorded: number;
  suppressed: number;
}

/**
 * Sampling of refusals that name no principal (401s, 429s): a flood of them must not grow the audit
 * trail without bound. The first refusal per (route, client IP, reason) in each one-minute window is
 * recorded, at most MAX_SAMPLED_PER_WINDOW per window; the rest are counted and reported once the window
 * ends (`onWindow`, a log line). Memory is bounded by the same cap. Refusals with a principal are never
 * sampled: they are recorded one by one.
 */
export class RefusalSampler {
  private windowStart = 0;
  private seen = new Set<string>();
  private suppressed = 0;

  constructor(
    private readonly onWindow: (window: RefusalWindow) => void = () => undefined,
    private readonly now: () => number = Date.now,
    private readonly maxPerWindow = MAX_SAMPLED_PER_WINDOW,
  ) {}

  /** Whether this anonymous refusal is recorded (true for the first of its kind in the window). */
  admit(route: string, clientIp: string, reason: string): boolean {
    const now = this.now();
    const start = now - (now % REFUSAL_WINDOW_MS);
    if (start !== this.windowStart) this.roll(start);
    const key = `${route}\n${clientIp}\n${reason}`;
    if (this.seen.has(key) || this.seen.size >= this.maxPerWindow) {
      this.suppressed += 1;
      return false;
    }
    this.seen.add(key);
    return true;
  }

  private roll(start: number): void {
    if (this.seen.size > 0 || this.suppressed > 0) {
      this.onWindow({ start: new Date(this.windowStart), recorded: this.seen.size, suppressed: this.suppressed });
    }
    this.windowStart = start;
    this.seen = new Set();
    this.suppressed = 0;
  }
}
