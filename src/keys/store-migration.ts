/**
 * Copies every record of one store into another (`keyplane migrate`): page by page through the
 * stores' TransferRepository, never overwriting, re-sealing each content key from the source cipher to
 * the target's. Idempotent (a record already there and the same is skipped; a different one is reported
 * as a conflict and left alone) and resumable (each page's end is a cursor the caller may checkpoint).
 */
import crypto from 'node:crypto';
import type { Backend } from '../store/backend';
import {
  identityOf,
  TRANSFER_KINDS,
  type TransferKind,
  type TransferRecord,
  type TransferRepository,
} from '../store/transfer';
import type { EnvelopeCipher } from './envelope-cipher';

/** One end of a migration: a store and the cipher its keys are sealed with. */
export interface MigrationEnd {
  store: Backend;
  cipher: EnvelopeCipher;
}

/** A record the target already has in another form: reported, never overwritten. */
export interface MigrationConflict {
  kind: TransferKind;
  identity: string;
  reason: string;
}

/** What a run did, by kind. */
export interface MigrationReport {
  copied: Record<TransferKind, number>;
  skipped: Record<TransferKind, number>;
  conflicts: MigrationConflict[];
}

/** What `verify` found: records checked, and those missing in or different from the target. */
export interface VerifyReport {
  checked: Record<TransferKind, number>;
  mismatches: MigrationConflict[];
}

/** Records per scanned page: bounds memory (and the work redone after a crash). */
export const MIGRATION_PAGE = 200;

const counts = (): Record<TransferKind, number> =>
  Object.fromEntries(TRANSFER_KINDS.map((k) => [k, 0])) as Record<TransferKind, number>;

/** The transfer repository of a store, or an error naming the backend that has none. */
export function transferOf(store: Backend): TransferRepository {
  if (!store.transfer) throw new Error(`The ${store.name} backend cannot be migrated from or to (no transfer support)`);
  return store.transfer;
}

/** A JSON form with sorted keys, Dates as ISO and Buffers as base64, for comparing records. */
function canonical(value: unknown): string {
  return JSON.stringify(value, function replacer(this: unknown, _k, v: unknown) {
    if (Buffer.isBuffer(v) || (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer')) {
      return Buffer.from((v as { data?: number[] }).data ?? (v as Buffer)).toString('base64');
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    }
    return v;
  });
}

/** Opens a key with its side's cipher; the plaintext is key ‖ IV. */
async function openKey(end: MigrationEnd, r: Extract<TransferRecord, { kind: 'key' }>): Promise<Buffer> {
  return end.cipher.open(r.record.sealed, { resourceId: r.record.resourceId, kid: r.record.kid });
}

/** Why `there` differs from `here` (undefined: the same record). Keys are compared by plaintext. */
async function difference(
  from: MigrationEnd,
  here: TransferRecord,
  to: MigrationEnd,
  there: TransferRecord,
): Promise<string | undefined> {
  if (here.kind === 'key' && there.kind === 'key') {
    if (here.record.resourceId !== there.record.resourceId) {
      return `KID is bound to resource "${there.record.resourceId}" in the target, "${here.record.resourceId}" in the source`;
    }
    const [a, b] = await Promise.all([openKey(from, here), openKey(to, there)]);
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return 'the target holds a different key for this KID';
    if (here.record.origin !== there.record.origin) return 'the key has another origin in the target';
    return undefined;
  }
  if (here.kind === 'audit') return undefined; // same time and id: the same event
  return canonical(here.record) === canonical(there.record) ? undefined : 'the target holds a different record';
}

/** The record as the target stores it: keys re-sealed with the target's cipher. */
async function forTarget(from: MigrationEnd, to: MigrationEnd, r: TransferRecord): Promise<TransferRecord> {
  if (r.kind !== 'key') return r;
  const context = { resourceId: r.record.resourceId, kid: r.record.kid };
  const plain = await openKey(from, r);
  try {
    return { kind: 'key', record: { ...r.record, sealed: await to.cipher.seal(plain, context) } };
  } finally {
    plain.fill(0);
  }
}

/** The records that belong to a resource and give access to it (or set how it is delivered). */
const OWNED_KINDS: ReadonlySet<TransferKind> = new Set<TransferKind>(['key', 'staticKey', 'lease', 'policy']);

/**
 * Why a record must not go in: its resource belongs to another tenant in the target than in the source.
 * Copied anyway, a source tenant's keys would be served to the target tenant's credentials.
 */
async function foreignOwner(
  from: MigrationEnd,
  to: MigrationEnd,
  r: TransferRecord,
  owners: Map<string, Promise<[string | undefined, string | undefined]>>,
): Promise<string | undefined> {
  if (!OWNED_KINDS.has(r.kind)) return undefined;
  const resourceId = (r.record as { resourceId: string }).resourceId;
  let pair = owners.get(resourceId);
  if (!pair) {
    pair = Promise.all([from.store.resources.get(resourceId), to.store.resources.get(resourceId)]).then(([a, b]) => [
      a?.tenant,
      b?.tenant,
    ]);
    owners.set(resourceId, pair);
  }
  const [source, target] = await pair;
  if (source === undefined || target === undefined || source === target) return undefined;
  return `resource "${resourceId}" belongs to tenant "${target}" in the target, "${source}" in the source: not copied`;
}

/** Options of a migration run. */
export interface MigrateOptions {
  /** Where to continue (a cursor a previous run's `onPage` was given); from the start when absent. */
  cursor?: string;
  pageSize?: number;
  /** Called after each page is durably in the target, with the cursor after it (undefined: done). */
  onPage?: (next: string | undefined) => void | Promise<void>;
}

/** Copies every record from `from` to `to` (see the file comment); resolves to what it did. */
export async function migrateStore(
  from: MigrationEnd,
  to: MigrationEnd,
  opts: MigrateOptions = {},
): Promise<MigrationReport> {
  const source = transferOf(from.store);
  const target = transferOf(to.store);
  const report: MigrationReport = { copied: counts(), skipped: counts(), conflicts: [] };
  let cursor = opts.cursor;
  do {
    const page = await source.scan(cursor, opts.pageSize ?? MIGRATION_PAGE);
    const owners = new Map<string, Promise<[string | undefined, string | undefined]>>();
    // One page at once: the target batches the writes (SQLite: one group commit, one fsync).
    const outcomes = await Promise.all(
      page.records.map(async (record) => {
        const foreign = await foreignOwner(from, to, record, owners);
        if (foreign !== undefined) return { record, reason: foreign };
        const existing = await target.insert(await forTarget(from, to, record));
        return { record, reason: existing && ((await difference(from, record, to, existing)) ?? null) };
      }),
    );
    for (const { record, reason } of outcomes) {
      if (reason === undefined) report.copied[record.kind] += 1;
      else if (reason === null) report.skipped[record.kind] += 1;
      else report.conflicts.push({ kind: record.kind, identity: identityOf(record), reason });
    }
    cursor = page.next;
    await opts.onPage?.(cursor);
  } while (cursor !== undefined);
  return report;
}

/** Compares every record of `from` with the target's (keys by plaintext); nothing is written. */
export async function verifyStore(
  from: MigrationEnd,
  to: MigrationEnd,
  pageSize = MIGRATION_PAGE,
): Promise<VerifyReport> {
  const source = transferOf(from.store);
  const target = transferOf(to.store);
  const report: VerifyReport = { checked: counts(), mismatches: [] };
  let cursor: string | undefined;
  do {
    const page = await source.scan(cursor, pageSize);
    const found = await Promise.all(
      page.records.map(async (record) => {
        const identity = identityOf(record);
        const there = await target.find(record.kind, identity);
        return {
          record,
          identity,
          reason: there ? await difference(from, record, to, there) : 'missing in the target',
        };
      }),
    );
    for (const { record, identity, reason } of found) {
      report.checked[record.kind] += 1;
      if (reason !== undefined) report.mismatches.push({ kind: record.kind, identity, reason });
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return report;
}
