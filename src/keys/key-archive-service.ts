/**
 * Export and import of content keys as CPIX archives (see `cpix/key-archive.ts`), shared by the CLI and
 * the admin HTTP routes: export opens a resource's keys for the archive; import seals another provider's
 * keys into this store as resources of a tenant, never overwriting (a KID already bound to another key
 * or resource, or a resource of another tenant, is a conflict; the same key again is unchanged). Every
 * export and import is audited: who, which resource, and plaintext or the recipient's fingerprint.
 */
import crypto from 'node:crypto';
import type { AuditRecord } from '../audit/audit-record';
import type { ArchivedKey, KeyArchive } from '../cpix/key-archive';
import { ALL_TENANTS, mayAct } from '../domain/tenants';
import { NotFoundError, UnprocessableError } from '../errors';
import type { Backend } from '../store/backend';
import type { ResourceOwner } from '../store/ownership';
import type { StoredKey } from '../store/records';
import type { TransferRecord, TransferRepository } from '../store/transfer';
import type { EnvelopeCipher } from './envelope-cipher';

/** Keys one resource may export at once (a rotating live channel for years stays below it). */
export const MAX_EXPORT_KEYS = 100_000;

/** What importing one archive did (or, on a dry run, would do). */
export interface ImportResult {
  resourceId: string;
  tenant: string;
  /** KIDs written (dry run: that would be written). */
  imported: string[];
  /** KIDs already here with the same key: nothing to do. */
  unchanged: string[];
  /** Why the archive was not imported; when not empty, nothing of it was written. */
  conflicts: { kid?: string; reason: string }[];
  dryRun: boolean;
}

/** A resource to export, with its keys when the scan that found it already read them. */
export interface ExportItem {
  owner: ResourceOwner;
  keys?: StoredKey[];
}

/** Who asks, for the audit trail: a principal (API key id, `cli:<user>`) and the route or command. */
export interface ArchiveCaller {
  principal: string;
  /** The caller's tenant; `*` reaches every resource. */
  tenant: string;
  route: string;
  clientIp?: string;
}

const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && crypto.timingSafeEqual(a, b);

/** Export and import of a store's keys (see the file comment). */
export class KeyArchiveService {
  private readonly transfer: TransferRepository;

  constructor(
    private readonly store: Backend,
    private readonly cipher: EnvelopeCipher,
    private readonly now: () => Date = () => new Date(),
    private readonly maxExportKeys = MAX_EXPORT_KEYS,
  ) {
    if (!store.transfer)
      throw new Error(`The ${store.name} backend cannot export or import keys (no transfer support)`);
    this.transfer = store.transfer;
  }

  private async audit(
    caller: ArchiveCaller,
    resourceId: string,
    tenant: string,
    reason: string,
    status = 200,
  ): Promise<void> {
    const record: AuditRecord = {
      id: crypto.randomUUID(),
      time: this.now(),
      action: 'issue',
      route: caller.route,
      resourceId,
      principal: caller.principal,
      outcome: status < 400 ? 'allowed' : 'denied',
      status,
      reason,
      tenant,
      ...(caller.clientIp ? { clientIp: caller.clientIp } : {}),
    };
    await this.store.audit.append([record]);
  }

  /** The resource's owner if the caller may reach it, else 404 (another tenant's resource is not revealed). */
  async ownerFor(resourceId: string, callerTenant: string): Promise<ResourceOwner> {
    const owner = await this.store.resources.get(resourceId);
    if (!owner || !mayAct(callerTenant, owner.tenant)) throw new NotFoundError(`No resource "${resourceId}" to export`);
    return owner;
  }

  /**
   * Opens every key of a resource for an archive and audits the export (`recipient`: the certificate's
   * SHA-256 fingerprint, or undefined for a plaintext export).
   */
  async exportResource(
    resourceId: string,
    caller: ArchiveCaller,
    recipient: string | undefined,
    prefetched?: readonly StoredKey[],
  ): Promise<KeyArchive> {
    const owner = await this.ownerFor(resourceId, caller.tenant);
    // One more than the limit: a resource over it is refused whole, never exported with keys left out.
    const stored = prefetched ?? (await this.transfer.keysOf(resourceId, this.maxExportKeys + 1));
    if (stored.length > this.maxExportKeys) {
      throw new UnprocessableError(
        `Resource "${resourceId}" has more than ${this.maxExportKeys} keys, too many for one export; ` +
          'use keyplane backup to copy them all',
      );
    }
    const keys = await Promise.all(
      stored.map(async (s): Promise<ArchivedKey> => {
        const plain = await this.cipher.open(s.sealed, { resourceId: s.resourceId, kid: s.kid });
        return { kid: s.kid, key: plain.subarray(0, 16), iv: plain.subarray(16, 32) };
      }),
    );
    const how = recipient === undefined ? 'export:plaintext' : `export:cert-sha256:${recipient}`;
    await this.audit(caller, resourceId, owner.tenant, `${how} keys:${keys.length}`);
    return { resourceId, keys };
  }

  /**
   * The resources the caller's tenant reaches (`*`: all, or those of `only`), from the store scan. When the
   * store's `keysOf` scans everything (DynamoDB), their keys are gathered in that same scan (memory grows
   * with the keys) so an export of N resources costs one scan, not N.
   */
  async *resources(callerTenant: string, only?: string): AsyncGenerator<ExportItem> {
    const wanted = (o: ResourceOwner) => mayAct(callerTenant, o.tenant) && (only === undefined || o.tenant === only);
    const gather = this.transfer.keysOfScansAll === true;
    const owners: ResourceOwner[] = [];
    const keys = new Map<string, StoredKey[]>();
    let cursor: string | undefined;
    do {
      const page = await this.transfer.scan(cursor, 500);
      for (const r of page.records) {
        if (r.kind === 'key' && gather) {
          const list = keys.get(r.record.resourceId);
          if (list) list.push(r.record);
          else keys.set(r.record.resourceId, [r.record]);
        }
        if (r.kind !== 'resource' || !wanted(r.record)) continue;
        if (gather) owners.push(r.record);
        else yield { owner: r.record };
      }
      cursor = page.next;
    } while (cursor !== undefined);
    for (const owner of owners) {
      const own = (keys.get(owner.resourceId) ?? []).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
      yield { owner, keys: own };
    }
  }

  /**
   * Finds the conflicts of an archive. Names of other tenants and their resources are shown only to a
   * caller of `*` (a tenant's admin learns that a KID or resource is taken, not by whom).
   */
  private async check(
    archive: KeyArchive,
    tenant: string,
    result: ImportResult,
    reveal: boolean,
  ): Promise<Map<string, StoredKey>> {
    const owner = await this.store.resources.get(archive.resourceId);
    if (owner && owner.tenant !== tenant) {
      result.conflicts.push({
        reason: reveal ? `resource belongs to tenant "${owner.tenant}"` : 'resource belongs to another tenant',
      });
      // Its keys are not compared: "unchanged" or "a different key" would let a tenant's admin confirm a
      // leaked key against another tenant's resource.
      if (!reveal) return new Map();
    }
    if (owner?.kind === 'static')
      result.conflicts.push({ reason: 'resource has a static HLS key; imports are SPEKE keys' });
    const existing = await this.store.keys.get(archive.keys.map((k) => k.kid));
    for (const k of archive.keys) {
      const there = existing.get(k.kid);
      if (!there) continue;
      if (there.resourceId !== archive.resourceId) {
        const where = reveal ? ` ("${there.resourceId}")` : '';
        result.conflicts.push({ kid: k.kid, reason: `KID is bound to another resource${where}` });
        continue;
      }
      const plain = await this.cipher.open(there.sealed, { resourceId: there.resourceId, kid: there.kid });
      const same = sameBytes(plain.subarray(0, 16), k.key) && (!k.iv || sameBytes(plain.subarray(16, 32), k.iv));
      if (same) result.unchanged.push(k.kid);
      else result.conflicts.push({ kid: k.kid, reason: 'KID is bound to a different key' });
    }
    return existing;
  }

  /** Whether a stored record is this key of this resource (the IV too, when the archive gives one). */
  private async sameKey(there: TransferRecord, resourceId: string, k: ArchivedKey): Promise<boolean> {
    if (there.kind !== 'key' || there.record.resourceId !== resourceId) return false;
    const plain = await this.cipher.open(there.record.sealed, { resourceId, kid: there.record.kid });
    try {
      return sameBytes(plain.subarray(0, 16), k.key) && (!k.iv || sameBytes(plain.subarray(16, 32), k.iv));
    } finally {
      plain.fill(0);
    }
  }

  /** Imports one archive as resources of `tenant` (see the file comment); a dry run writes nothing. */
  async importArchive(
    archive: KeyArchive,
    tenant: string,
    caller: ArchiveCaller,
    dryRun: boolean,
  ): Promise<ImportResult> {
    const result: ImportResult = {
      resourceId: archive.resourceId,
      tenant,
      imported: [],
      unchanged: [],
      conflicts: [],
      dryRun,
    };
    const existing = await this.check(archive, tenant, result, caller.tenant === ALL_TENANTS);
    const fresh = archive.keys.filter((k) => !existing.has(k.kid));
    if (result.conflicts.length > 0) {
      if (!dryRun)
        await this.audit(caller, archive.resourceId, tenant, `import:conflict keys:${archive.keys.length}`, 409);
      return result;
    }
    if (dryRun) return { ...result, imported: fresh.map((k) => k.kid) };
    const createdAt = this.now();
    const owner = await this.transfer.insert({
      kind: 'resource',
      record: { resourceId: archive.resourceId, tenant, kind: 'speke', createdAt },
    });
    if (owner && (owner.kind !== 'resource' || owner.record.tenant !== tenant || owner.record.kind !== 'speke')) {
      result.conflicts.push({ reason: 'resource was claimed by another tenant or as static meanwhile' });
      return result;
    }
    // All keys of the document at once: the store commits them together (SQLite: one fsync).
    const raced = await Promise.all(
      fresh.map(async (k) => {
        const context = { resourceId: archive.resourceId, kid: k.kid };
        const sealed = await this.cipher.seal(Buffer.concat([k.key, k.iv ?? crypto.randomBytes(16)]), context);
        return this.transfer.insert({ kind: 'key', record: { ...context, sealed, origin: 'speke', createdAt } });
      }),
    );
    for (const [i, k] of fresh.entries()) {
      const there = raced[i];
      if (!there) result.imported.push(k.kid);
      // Written meanwhile (the same document sent twice at once, a retry): the same key is unchanged.
      else if (await this.sameKey(there, archive.resourceId, k)) result.unchanged.push(k.kid);
      else result.conflicts.push({ kid: k.kid, reason: 'KID was written concurrently with a different key' });
    }
    // The status the caller gets: a concurrent import of different keys for a KID is a 409 (what this one
    // did write is listed in `imported`).
    const status = result.conflicts.length > 0 ? 409 : 200;
    await this.audit(caller, archive.resourceId, tenant, `import keys:${result.imported.length}`, status);
    return result;
  }
}
