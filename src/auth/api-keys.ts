import crypto from 'node:crypto';
import { ALL_TENANTS, checkTenantId, DEFAULT_TENANT } from '../domain/tenants';
import { BadRequestError } from '../errors';
import type { ApiKeyRecord } from '../store/records';
import type { ApiKeyRepository } from '../store/repositories';
import { isRole, type Principal, type Role } from './principal';

const KEY_PATTERN = /^kp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function sha256(value: string): Buffer {
  return crypto.createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time equality of two secrets of any length (compares their SHA-256). */
export function secretsEqual(a: string, b: string): boolean {
  return crypto.timingSafeEqual(sha256(a), sha256(b));
}

/** An API key as shown to admins: never the secret or its hash. */
interface ApiKeyView {
  id: string;
  name: string;
  roles: string[];
  createdAt: string;
  revokedAt?: string;
  /** The tenant the key acts for (`*`: all). */
  tenant: string;
}

/** Strips the hash from a record for API output. */
function viewOf(r: ApiKeyRecord): ApiKeyView {
  return {
    id: r.id,
    name: r.name,
    roles: r.roles,
    createdAt: r.createdAt.toISOString(),
    tenant: r.tenant,
    ...(r.revokedAt ? { revokedAt: r.revokedAt.toISOString() } : {}),
  };
}

/**
 * API keys: `kp_<id>_<secret>`. Only the SHA-256 of the secret is stored; verification looks the
 * record up by id and compares hashes in constant time. Revocation is read on every request.
 */
export class ApiKeyService {
  /** SHA-256 of the configured admin key: verify() compares the presented key's hash with it. */
  private readonly bootstrapHash?: Buffer;

  /** `bootstrapKey` (KEYPLANE_ADMIN_KEY), or only its SHA-256 (KEYPLANE_ADMIN_KEY_SHA256). */
  constructor(
    private readonly store: ApiKeyRepository,
    bootstrapKey?: string,
    bootstrapSha256?: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.bootstrapHash = bootstrapKey === undefined ? bootstrapSha256 : sha256(bootstrapKey);
  }

  /** Creates a key of `tenant` (a tenant ID, or `*` for all tenants) and returns its secret once. */
  async create(
    name: string,
    roles: unknown,
    tenant: unknown = DEFAULT_TENANT,
  ): Promise<{ key: string; record: ApiKeyView }> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
      throw new BadRequestError('name must be a string of 1-100 characters');
    }
    if (!Array.isArray(roles) || roles.length === 0 || !roles.every(isRole)) {
      throw new BadRequestError('roles must be a non-empty array of admin, encoder, keyserver, token-issuer');
    }
    const keyTenant = checkTenantId(tenant, 'tenant', { allowAll: true });
    const id = crypto.randomBytes(8).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      name,
      roles: [...new Set(roles)],
      secretHash: sha256(secret),
      createdAt: this.now(),
      tenant: keyTenant,
    };
    await this.store.put(record);
    return { key: `kp_${id}_${secret}`, record: viewOf(record) };
  }

  /** Creates the bootstrap admin key on first start when none is configured; returns it once, or undefined. */
  async ensureBootstrapKey(): Promise<string | undefined> {
    if (this.bootstrapHash !== undefined) return undefined;
    const keys = await this.store.list();
    if (keys.some((k) => !k.revokedAt && k.roles.includes('admin') && k.tenant === ALL_TENANTS)) return undefined;
    return (await this.create('bootstrap-admin', ['admin'], ALL_TENANTS)).key;
  }

  /** Returns the principal for a presented key, or undefined when it identifies nobody. */
  async verify(presented: string): Promise<Principal | undefined> {
    if (this.bootstrapHash !== undefined && crypto.timingSafeEqual(sha256(presented), this.bootstrapHash)) {
      return { id: 'admin-key', roles: new Set<Role>(['admin']), via: 'admin-key', tenant: ALL_TENANTS };
    }
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const record = await this.store.get(match[1] as string);
    const hash = sha256(match[2] as string);
    const stored = record?.secretHash ?? Buffer.alloc(32);
    if (!crypto.timingSafeEqual(hash, stored) || !record || record.revokedAt) return undefined;
    const roles = new Set(record.roles.filter(isRole));
    return { id: `apikey:${record.id}`, roles, via: 'api-key', tenant: record.tenant };
  }

  /** Lists keys without secrets; only those of `tenant` when given. */
  async list(tenant?: string): Promise<ApiKeyView[]> {
    return (await this.store.list(tenant === undefined ? {} : { tenant })).map(viewOf);
  }

  /** Revokes a key; effective on the next request. */
  async revoke(id: string): Promise<boolean> {
    return this.store.revoke(id, this.now());
  }
}
