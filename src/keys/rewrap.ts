import type { StoredKey } from '../store/records';
import type { EnvelopeCipher } from './envelope-cipher';

/** One page of stored keys and where the next page starts (absent: the end). */
export interface SealedKeyPage {
  keys: StoredKey[];
  next?: string;
}

/** A change of one key's sealed value, applied only if the stored value is still `expected`. */
export interface SealedKeyChange {
  kid: string;
  expected: Buffer;
  next: Buffer;
}

/**
 * Every stored key of a store, page by page, and a compare-and-swap of sealed values: what re-wrapping
 * (master key rotation) and counting records per sealing key need. One implementation per store.
 */
export interface SealedKeyStore {
  /** The keys after `cursor` (the start when absent), at most about `limit`. */
  page(cursor: string | undefined, limit: number): Promise<SealedKeyPage>;
  /** Applies the changes whose key still holds `expected` (each atomically); returns how many applied. */
  replaceSealed(changes: SealedKeyChange[]): Promise<number>;
  /** Releases the store's connections. */
  close(): Promise<void>;
}

/** The id `sealedBy` reports for a value in a format from before key ids. */
export const LEGACY_SEALER = 'legacy (format without key id)';

/** How many stored keys each sealing key (or the legacy format) sealed. */
export async function countBySealer(store: SealedKeyStore, cipher: EnvelopeCipher): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page = await store.page(cursor, 1000);
    for (const key of page.keys) {
      const by = cipher.sealedBy?.(key.sealed) ?? LEGACY_SEALER;
      counts.set(by, (counts.get(by) ?? 0) + 1);
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return counts;
}

/** What a re-wrap run did. */
export interface RewrapResult {
  /** The key every value is now sealed by. */
  sealingKey: string;
  scanned: number;
  rewrapped: number;
  /** Values changed by someone else between read and write (left as they are; a re-run looks again). */
  skipped: number;
}

/**
 * Re-seals, under the cipher's current key, every stored key that another key (or the legacy format)
 * sealed: open, seal, compare-and-swap, page by page. Crash-safe and resumable: each value is replaced
 * atomically by one that opens to the same bytes, values already under the current key are left alone,
 * and the old key stays on hand until `countBySealer` finds nothing that needs it.
 */
export async function rewrapKeys(
  store: SealedKeyStore,
  cipher: EnvelopeCipher,
  opts: { batch?: number; onPage?: (done: RewrapResult) => void } = {},
): Promise<RewrapResult> {
  if (!cipher.sealedBy || !cipher.sealingKeyId) throw new Error(`the ${cipher.name} cipher cannot re-wrap`);
  const current = await cipher.sealingKeyId();
  const result: RewrapResult = { sealingKey: current, scanned: 0, rewrapped: 0, skipped: 0 };
  let cursor: string | undefined;
  do {
    const page = await store.page(cursor, opts.batch ?? 500);
    const stale = page.keys.filter((k) => cipher.sealedBy?.(k.sealed) !== current);
    const changes = await Promise.all(
      stale.map(async (k) => {
        const context = { resourceId: k.resourceId, kid: k.kid };
        const plain = await cipher.open(k.sealed, context);
        return { kid: k.kid, expected: k.sealed, next: await cipher.seal(plain, context) };
      }),
    );
    const applied = changes.length > 0 ? await store.replaceSealed(changes) : 0;
    result.scanned += page.keys.length;
    result.rewrapped += applied;
    result.skipped += changes.length - applied;
    opts.onPage?.({ ...result });
    cursor = page.next;
  } while (cursor !== undefined);
  return result;
}
