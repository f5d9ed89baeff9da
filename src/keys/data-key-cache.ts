/** A plaintext data key and when it stops being usable. */
interface CachedDataKey {
  plaintext: Buffer;
  expiresAt: number;
}

/**
 * The KMS cipher's bounded LRU of decrypted data keys, keyed by the encrypted key (base64), so
 * opening many values sealed under one data key costs one KMS Decrypt. Size 0 disables it.
 */
export class DataKeyCache {
  private readonly entries = new Map<string, CachedDataKey>();

  constructor(
    private readonly size: number,
    private readonly now: () => number,
  ) {}

  /** The plaintext key when cached and not expired; marks it most recently used. */
  recall(cacheKey: string): Buffer | undefined {
    const entry = this.entries.get(cacheKey);
    if (!entry) return undefined;
    this.entries.delete(cacheKey);
    if (this.now() >= entry.expiresAt) return undefined;
    this.entries.set(cacheKey, entry); // most recently used goes last
    return entry.plaintext;
  }

  /** Stores a key as most recently used, dropping the least recently used beyond the size. */
  remember(cacheKey: string, entry: CachedDataKey): void {
    if (this.size === 0) return;
    this.entries.delete(cacheKey);
    this.entries.set(cacheKey, entry);
    while (this.entries.size > this.size) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
