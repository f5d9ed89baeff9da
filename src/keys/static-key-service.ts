import crypto from 'node:crypto';
import { claimingTenant, mayAct } from '../domain/tenants';
import { BadRequestError, ConflictError, ResourceTakenError } from '../errors';
import { ResourceRaceError, type ResourceOwner, type ResourceRepository } from '../store/ownership';
import { KeyRaceError, StaticKeyExistsError } from '../store/records';
import type { StaticKeyRepository } from '../store/repositories';
import type { IssuedKey, KeyService } from './key-service';
import { pooledRandomBytes } from '../util/random-pool';

/** Input of `POST /static-keys`. */
interface StaticKeyInput {
  resourceId: string;
  keyHex?: string;
  ivHex?: string;
}

/** A static key and whether this call created it. */
export interface StaticKeyResult extends IssuedKey {
  resourceId: string;
  created: boolean;
}

function parseHex(value: string | undefined, field: string): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{32}$/.test(value)) {
    throw new BadRequestError(`${field} must be 32 hexadecimal characters (16 bytes)`);
  }
  return Buffer.from(value, 'hex');
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** A static key may be (re)created only on the caller's own static-key resource. */
function checkStaticOwner(resourceId: string, owner: ResourceOwner, tenant: string): void {
  if (!mayAct(tenant, owner.tenant)) throw new ResourceTakenError(resourceId);
  if (owner.kind !== 'static') {
    throw new ConflictError(
      `Resource "${resourceId}" already has SPEKE keys; a static key needs a resource ID of its own`,
      { resourceId },
    );
  }
}

/**
 * HLS AES-128 static-key mode: one key and constant IV per resource ID, generated or imported,
 * served by the same delivery route as SPEKE keys. Re-posting is idempotent.
 */
export class StaticKeyService {
  constructor(
    private readonly store: StaticKeyRepository,
    private readonly keys: KeyService,
    private readonly resources: ResourceRepository,
  ) {}

  /**
   * Creates (or returns the existing) static key for a resource ID, claiming the resource for `tenant`
   * (the caller's; `default` for a `*` caller). Another tenant's resource is a 403, one with SPEKE keys a 409.
   */
  async create(input: StaticKeyInput, tenant: string): Promise<StaticKeyResult> {
    const key = parseHex(input.keyHex, 'keyHex');
    const iv = parseHex(input.ivHex, 'ivHex');
    for (let attempt = 0; attempt < 3; attempt++) {
      const [owner, existing] = await Promise.all([
        this.resources.get(input.resourceId),
        this.store.get(input.resourceId),
      ]);
      if (owner) checkStaticOwner(input.resourceId, owner, tenant);
      if (existing) return this.reuse(input.resourceId, existing.kid, key, iv);
      const kid = crypto.randomUUID();
      const material = { key: key ?? pooledRandomBytes(16), iv: iv ?? pooledRandomBytes(16) };
      const stored = await this.keys.seal(input.resourceId, kid, material.key, material.iv, 'static');
      try {
        const record = { resourceId: input.resourceId, kid, createdAt: stored.createdAt };
        await this.store.put(record, stored, claimingTenant(tenant));
        return { resourceId: input.resourceId, kid, ...material, created: true };
      } catch (err) {
        const raced = err instanceof StaticKeyExistsError || err instanceof KeyRaceError;
        if (!(raced || err instanceof ResourceRaceError)) throw err;
      }
    }
    throw new ConflictError(`Static key for "${input.resourceId}" is being created concurrently; retry`);
  }

  /** Reads the static key of a resource ID, for its owning tenant (or `*`) only: another tenant gets a 403. */
  async show(resourceId: string, tenant: string): Promise<StaticKeyResult | undefined> {
    const [owner, existing] = await Promise.all([this.resources.get(resourceId), this.store.get(resourceId)]);
    if (owner && !mayAct(tenant, owner.tenant)) throw new ResourceTakenError(resourceId);
    if (!existing || !owner) return undefined;
    return { resourceId, ...(await this.keys.get(resourceId, existing.kid)), created: false };
  }

  private async reuse(resourceId: string, kid: string, key?: Buffer, iv?: Buffer): Promise<StaticKeyResult> {
    const current = await this.keys.get(resourceId, kid);
    if ((key && !sameBytes(key, current.key)) || (iv && !sameBytes(iv, current.iv))) {
      throw new ConflictError(`Resource "${resourceId}" already has a different static key`, { resourceId });
    }
    return { resourceId, ...current, created: false };
  }
}
