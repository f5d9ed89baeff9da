/**
 * Per-resource access policies as the admin API manages them: validates the rules and reads and
 * writes them through the policy repository, so the routes never touch the store (the delivery side
 * reads them through AccessPolicy).
 */
import { BadRequestError } from '../errors';
import type { AccessRules, ResourcePolicy } from '../store/records';
import type { PolicyRepository } from '../store/repositories';
import { checkIpEntry, checkOriginEntry } from './access-policy';
import { NotConfiguredError } from './delivery-errors';

const FIELDS: Record<keyof AccessRules, (entry: string) => string> = {
  allowIps: checkIpEntry,
  denyIps: checkIpEntry,
  allowOrigins: checkOriginEntry,
};
const MAX_ENTRIES = 100;

function entries(field: keyof AccessRules, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > MAX_ENTRIES || !value.every((v) => typeof v === 'string')) {
    throw new BadRequestError(`${field} must be an array of at most ${MAX_ENTRIES} strings`);
  }
  try {
    return value.map((v: string) => FIELDS[field](v.trim()));
  } catch (err) {
    throw new BadRequestError(`${field}: ${(err as Error).message}`);
  }
}

/** Validates a policy body: only allowIps, denyIps, allowOrigins, each a list of valid entries. */
function parseRules(body: unknown): AccessRules {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('Request body must be a JSON object (Content-Type: application/json)');
  }
  const unknown = Object.keys(body).find((k) => !(k in FIELDS));
  if (unknown !== undefined) throw new BadRequestError(`Unknown field "${unknown}" (allowIps, denyIps, allowOrigins)`);
  const rules: AccessRules = {};
  for (const field of Object.keys(FIELDS) as (keyof AccessRules)[]) {
    const list = entries(field, (body as Record<string, unknown>)[field]);
    if (list !== undefined) rules[field] = list;
  }
  return rules;
}

/** Sets, reads and deletes the policy of one resource; 501 when the key store keeps no policies. */
export class ResourcePolicyService {
  constructor(
    private readonly store: PolicyRepository | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private policies(): PolicyRepository {
    if (this.store) return this.store;
    throw new NotConfiguredError(
      'This key store keeps no per-resource policies (KEYPLANE_STORE=sqlite and dynamodb do)',
    );
  }

  /** Replaces the policy of `resourceId` with the rules in `body` (400 when they are invalid). */
  async set(resourceId: string, body: unknown): Promise<ResourcePolicy> {
    const policy: ResourcePolicy = { resourceId, ...parseRules(body), updatedAt: this.now() };
    await this.policies().put(policy);
    return policy;
  }

  /** The policy of `resourceId`, or undefined when it has none. */
  async get(resourceId: string): Promise<ResourcePolicy | undefined> {
    return this.policies().get(resourceId);
  }

  /** Deletes the policy of `resourceId`; whether there was one. */
  async remove(resourceId: string): Promise<boolean> {
    return this.policies().delete(resourceId);
  }
}
