import { claimingTenant, mayAct } from '../domain/tenants';
import { ConflictError, NotFoundError, ResourceTakenError, StaticResourceError } from '../errors';
import type { Backend } from '../store/backend';
import { ResourceRaceError, type ResourceClaim, type ResourceOwner } from '../store/ownership';
import { KeyRaceError, LeaseRaceError, type Lease, type StoredKey } from '../store/records';
import type { EnvelopeCipher } from './envelope-cipher';
import { decideLease, firstLeaseVersion, MAX_LEASE_KIDS } from './lease-policy';
import { pooledRandomBytes } from '../util/random-pool';

/** A key the service hands out: 16-byte content key and 16-byte IV. */
export interface IssuedKey {
  kid: string;
  key: Buffer;
  iv: Buffer;
}

/** One KID of a SPEKE request, with the IV the encoder proposed, if any. */
interface KeyRequest {
  kid: string;
  iv?: Buffer;
  /**
   * The KID under which the key of this key's period is remembered (a SPEKE v2.1 period named by time):
   * a new KID takes that key when it exists, and a missing alias is stored with this KID's key.
   */
  alias?: string;
}

/** What a SPEKE request asks the key service for. */
export interface IssueRequest {
  resourceId: string;
  owner: string;
  /** The caller's tenant: the resource must be its own (or unowned, then it claims it); `*` acts for all. */
  tenant: string;
  keys: KeyRequest[];
  rotating: boolean;
  /**
   * Issue without the lease rule (neither read nor taken): for KIDs derived from the request (the Widevine
   * API), where every process asking for the same content gets the same keys, so there is nothing to guard.
   */
  leaseFree?: boolean;
}

const MAX_ATTEMPTS = 5;

/**
 * The requested keys without the period aliases that `existing` shows bound to another resource. An alias
 * KID is derived from public values (cpix/period-keys.ts), so another tenant could take it first under its own
 * resource: the period then simply has no alias (its KID gets its own key), instead of the request failing.
 * Those aliases leave the existing keys too (a copy: a store may share its read among requests), so the
 * binding check only sees the request's own KIDs.
 */
function withoutForeignAliases(
  resourceId: string,
  keys: readonly KeyRequest[],
  existing: ReadonlyMap<string, StoredKey>,
): { keys: readonly KeyRequest[]; existing: ReadonlyMap<string, StoredKey> } {
  const ownKids = new Set(keys.map((k) => k.kid));
  const foreign = new Set<string>();
  for (const k of keys) {
    const bound = k.alias === undefined || ownKids.has(k.alias) ? undefined : existing.get(k.alias);
    if (bound && bound.resourceId !== resourceId) foreign.add(k.alias as string);
  }
  if (foreign.size === 0) return { keys, existing };
  return {
    keys: keys.map((k) => (k.alias !== undefined && foreign.has(k.alias) ? { kid: k.kid, iv: k.iv } : k)),
    existing: new Map([...existing].filter(([kid]) => !foreign.has(kid))),
  };
}

/**
 * A lease-free issue's lease write: the stored lease unchanged (its version re-checked), or, when there is
 * none, an expired placeholder that every reader treats as absent (the commit always carries a lease).
 */
function untouchedLease(resourceId: string, existing: Lease | undefined) {
  const lease = existing ?? { resourceId, owner: '', kids: [], rotating: false, expiresAt: new Date(0), version: 0 };
  return { lease, expectedVersion: existing?.version, mustWrite: false };
}

/**
 * The ownership a SPEKE request needs: an unowned resource is claimed for the caller's tenant (`default`
 * for a `*` caller); another tenant's is refused (403, never a key); a static-key resource is refused to
 * everyone (static keys never go out through SPEKE); the caller's own is checked again at commit.
 */
function spekeClaim(req: IssueRequest, owner: ResourceOwner | undefined): ResourceClaim {
  if (!owner) return { tenant: claimingTenant(req.tenant), kind: 'speke', expected: 'absent' };
  if (!mayAct(req.tenant, owner.tenant)) throw new ResourceTakenError(req.resourceId);
  if (owner.kind === 'static') throw new StaticResourceError(req.resourceId);
  return { tenant: owner.tenant, kind: 'speke', expected: 'present' };
}

/**
 * Issues, stores and reads content keys. Keys are bound to (resource ID, KID), sealed by the
 * envelope cipher, and committed together with the resource's lease before they are returned.
 */
export class KeyService {
  constructor(
    private readonly store: Pick<Backend, 'keys' | 'leases' | 'resources'>,
    private readonly cipher: EnvelopeCipher,
    private readonly leaseTtlSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Returns the keys for a SPEKE request, creating missing ones; enforces the lease rule. */
  async issue(req: IssueRequest): Promise<IssuedKey[]> {
    return this.issueWith(req, (keys) => keys);
  }

  /**
   * Reads or generates the keys, runs `build` on them (e.g. the SPEKE response), and only then
   * commits lease and new keys: anything `build` rejects leaves the store unchanged, and the result
   * is returned only once the keys are durable. A lost race starts over from the read.
   */
  async issueWith<T>(req: IssueRequest, build: (keys: IssuedKey[]) => T | Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const prepared = await this.prepare(req);
      const result = await build(prepared.keys);
      try {
        await prepared.commit();
        return result;
      } catch (err) {
        const raced = err instanceof LeaseRaceError || err instanceof KeyRaceError || err instanceof ResourceRaceError;
        if (raced && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  /** Reads existing keys, applies the lease rule and generates missing keys, without writing. */
  private async prepare(req: IssueRequest): Promise<{ keys: IssuedKey[]; commit: () => Promise<void> }> {
    const kids = req.keys.map((k) => k.kid);
    const aliases = req.keys.flatMap((k) => (k.alias === undefined ? [] : [k.alias]));
    this.cipher.prepareToSeal?.();
    const [owner, lease, stored] = await Promise.all([
      this.store.resources.get(req.resourceId),
      this.store.leases.get(req.resourceId),
      this.store.keys.get(aliases.length === 0 ? kids : [...kids, ...aliases]),
    ]);
    const claim = spekeClaim(req, owner);
    const { keys, existing } = withoutForeignAliases(req.resourceId, req.keys, stored);
    this.checkBinding(req.resourceId, existing);
    const decision = req.leaseFree
      ? untouchedLease(req.resourceId, lease)
      : decideLease(
          lease,
          // Only a request over the lease's KID limit can need them (see decideLease): not built otherwise.
          kids.length > MAX_LEASE_KIDS
            ? { ...req, kids, storedKids: new Set(kids.filter((k) => existing.get(k)?.resourceId === req.resourceId)) }
            : { ...req, kids },
          this.now(),
          this.leaseTtlSeconds,
          firstLeaseVersion(),
        );
    const opened = await this.openAll([...existing.values()]);
    const fresh = await this.generate(req.resourceId, keys, opened);
    for (const f of fresh) opened.set(f.issued.kid, f.issued);
    const mustWrite = decision.mustWrite || fresh.length > 0 || claim.expected === 'absent';
    const commit = async () => {
      if (!mustWrite) return;
      await this.store.leases.commitIssue({
        lease: decision.lease,
        expectedLeaseVersion: decision.expectedVersion,
        newKeys: fresh.map((f) => f.stored),
        claim,
      });
    };
    return { keys: kids.map((kid) => opened.get(kid) as IssuedKey), commit };
  }

  /** The tenant that owns a resource ID and how its keys were made; undefined while nobody created keys for it. */
  async ownerOf(resourceId: string): Promise<ResourceOwner | undefined> {
    return this.store.resources.get(resourceId);
  }

  /** Reads one key for delivery; 404 when the KID is unknown or bound to another resource. */
  async get(resourceId: string, kid: string): Promise<IssuedKey> {
    const stored = (await this.store.keys.get([kid])).get(kid);
    if (!stored || stored.resourceId !== resourceId) {
      throw new NotFoundError(`No key for resource "${resourceId}" and KID ${kid}`);
    }
    return this.open(stored);
  }

  /** Reads sealed keys by KID across resources (missing KIDs absent), so callers can authorize before `open`. */
  async findByKids(kids: string[]): Promise<Map<string, StoredKey>> {
    return this.store.keys.get(kids);
  }

  /** The lease of a resource while it is active (not expired), for the admin API. */
  async activeLease(resourceId: string): Promise<Lease | undefined> {
    const lease = await this.store.leases.get(resourceId);
    return lease && lease.expiresAt.getTime() > this.now().getTime() ? lease : undefined;
  }

  /**
   * Deletes a resource's lease (expired or not), so another encoder may take it; with `owner`, only while
   * that caller holds it. Returns whether one was deleted.
   */
  async releaseLease(resourceId: string, owner?: string): Promise<boolean> {
    return this.store.leases.delete(resourceId, owner);
  }

  /** Seals a new key for storage (used by SPEKE issuance and static keys). */
  async seal(
    resourceId: string,
    kid: string,
    key: Buffer,
    iv: Buffer,
    origin: StoredKey['origin'],
  ): Promise<StoredKey> {
    const sealed = await this.cipher.seal(Buffer.concat([key, iv]), { resourceId, kid });
    return { kid, resourceId, sealed, origin, createdAt: this.now() };
  }

  /** Opens a stored key into key + IV. */
  async open(stored: StoredKey): Promise<IssuedKey> {
    const plain = await this.cipher.open(stored.sealed, { resourceId: stored.resourceId, kid: stored.kid });
    return { kid: stored.kid, key: plain.subarray(0, 16), iv: plain.subarray(16, 32) };
  }

  private checkBinding(resourceId: string, existing: ReadonlyMap<string, StoredKey>): void {
    for (const key of existing.values()) {
      if (key.resourceId !== resourceId) {
        throw new ConflictError(`KID ${key.kid} is already bound to a different resource ID`, { kid: key.kid });
      }
    }
  }

  /**
   * The keys to create: a missing KID gets its alias's key when there is one (else a new key; the IV the
   * encoder proposed wins), and a missing alias gets its KID's key. Without aliases: a new key per missing KID.
   */
  private async generate(resourceId: string, keys: readonly KeyRequest[], opened: ReadonlyMap<string, IssuedKey>) {
    const planned = new Map<string, IssuedKey>();
    for (const k of keys) {
      const own = opened.get(k.kid);
      const shared = k.alias === undefined ? undefined : (opened.get(k.alias) ?? planned.get(k.alias));
      const issued = own ?? {
        kid: k.kid,
        key: shared?.key ?? pooledRandomBytes(16),
        iv: k.iv ?? shared?.iv ?? pooledRandomBytes(16),
      };
      if (!own) planned.set(k.kid, issued);
      if (k.alias !== undefined && !shared) planned.set(k.alias, { kid: k.alias, key: issued.key, iv: issued.iv });
    }
    return Promise.all(
      [...planned.values()].map(async (issued) => ({
        issued,
        stored: await this.seal(resourceId, issued.kid, issued.key, issued.iv, 'speke'),
      })),
    );
  }

  private async openAll(stored: StoredKey[]): Promise<Map<string, IssuedKey>> {
    const opened = await Promise.all(stored.map((s) => this.open(s)));
    return new Map(opened.map((o) => [o.kid, o]));
  }
}
