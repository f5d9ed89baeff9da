import crypto from 'node:crypto';
import { BadRequestError, ConflictError } from '../errors';
import { KeyRaceError, StaticKeyExistsError } from '../store/records';
import type { StaticKeyRepository } from '../store/repositories';
import type { IssuedKey, KeyService } from './key-service';

/** Input of `POST /static-keys`. */
export interface StaticKeyInput {
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

/**
 * HLS AES-128 static-key mode: one key and constant IV per resource ID, generated or imported,
 * served by the same delivery route as SPEKE keys. Re-posting is idempotent.
 */
export class StaticKeyService {
  constructor(
    private readonly store: StaticKeyRepository,
    private readonly keys: KeyService,
  ) {}

  /** Creates (or returns the existing) static key for a resource ID. */
  async create(input: StaticKeyInput): Promise<StaticKeyResult> {
    const key = parseHex(input.keyHex, 'keyHex');
    const iv = parseHex(input.ivHex, 'ivHex');
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.store.get(input.resourceId);
      if (existing) return this.reuse(input.resourceId, existing.kid, key, iv);
      const kid = crypto.randomUUID();
      const material = { key: key ?? crypto.randomBytes(16), iv: iv ?? crypto.randomBytes(16) };
      const stored = await this.keys.seal(input.resourceId, kid, material.key, material.iv, 'static');
      try {
        await this.store.put({ resourceId: input.resourceId, kid, createdAt: stored.createdAt }, stored);
        return { resourceId: input.resourceId, kid, ...material, created: true };
      } catch (err) {
        if (!(err instanceof StaticKeyExistsError || err instanceof KeyRaceError)) throw err;
      }
    }
    throw new ConflictError(`Static key for "${input.resourceId}" is being created concurrently; retry`);
  }

  /** Reads the static key of a resource ID. */
  async show(resourceId: string): Promise<StaticKeyResult | undefined> {
    const existing = await this.store.get(resourceId);
    if (!existing) return undefined;
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
