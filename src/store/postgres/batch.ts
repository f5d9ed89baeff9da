/** Most keys one batched read sends in a single statement; larger batches are split. */
const MAX_BATCH = 500;

/**
 * Coalesces the reads by primary key that arrive during one turn of the event loop into one statement
 * (`WHERE key = ANY($1)`): under load, the requests being served at once share a round trip instead of
 * each holding a pooled connection for its own. A read waits at most until the current I/O phase ends
 * (`setImmediate`); it is sent after every write that resolved before it was asked for, so it sees them.
 * A failed statement fails every read it carried (each maps to 503 like any other).
 */
export class ReadBatcher<V> {
  private pending = new Map<string, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;

  /** `load` reads the given keys (at most MAX_BATCH, distinct) and returns what exists, by key. */
  constructor(private readonly load: (keys: string[]) => Promise<Map<string, V>>) {}

  /** The value stored under `key`, read in the current turn's batch. */
  get(key: string): Promise<V | undefined> {
    // No stored key holds U+0000 (PostgreSQL text cannot), and one would fail the whole batch's statement.
    if (key.includes('\0')) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += MAX_BATCH) {
      const chunk = keys.slice(i, i + MAX_BATCH);
      this.load(chunk).then(
        (found) => chunk.forEach((k) => batch.get(k)?.forEach((w) => w.resolve(found.get(k)))),
        (err: unknown) => chunk.forEach((k) => batch.get(k)?.forEach((w) => w.reject(err))),
      );
    }
  }
}

/**
 * Coalesces the appends of one event-loop turn into one statement (and one commit): each caller's
 * promise resolves once the statement carrying its items has committed, and all of them fail together.
 */
export class AppendBatcher<T> {
  private pending: { items: readonly T[]; resolve: () => void; reject: (e: unknown) => void }[] = [];

  /** `write` stores the items of a batch in one statement. */
  constructor(private readonly write: (items: T[]) => Promise<unknown>) {}

  /** Stores `items` with whatever else is appended in this turn; resolves once committed. */
  append(items: readonly T[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.write(batch.flatMap((b) => b.items)).then(
      () => batch.forEach((b) => b.resolve()),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}
