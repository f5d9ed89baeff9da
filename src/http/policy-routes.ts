import express, { Router, type Request } from 'express';
import { ownedBy, type OwnerReader } from '../auth/resource-scope';
import { tenantOf } from './principal-tenant';
import { checkIpEntry, checkOriginEntry } from '../auth/access-policy';
import { requireRole } from '../auth/authenticate';
import { NotConfiguredError } from '../auth/delivery-errors';
import { BadRequestError, NotFoundError } from '../errors';
import type { AccessRules, ResourcePolicy } from '../store/records';
import type { PolicyRepository } from '../store/repositories';
import { noStore } from './respond';
import { checkResourceId } from '../domain/ids';

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
export function parseRules(body: unknown): AccessRules {
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

function view(policy: ResourcePolicy) {
  return {
    resourceId: policy.resourceId,
    allowIps: policy.allowIps ?? [],
    denyIps: policy.denyIps ?? [],
    allowOrigins: policy.allowOrigins ?? [],
    updatedAt: policy.updatedAt.toISOString(),
  };
}

/** Admin routes for per-resource delivery policies: `PUT/GET/DELETE /resources/{resourceId}/policy`. */
export function policyRoutes(store: PolicyRepository | undefined, owners: OwnerReader): Router {
  const router = Router();
  // A policy belongs to a resource of the caller's tenant: 403 for another tenant's, 404 before its keys exist.
  const owned = async (req: Request, resourceId: string) => {
    const owner = await ownedBy(owners, resourceId, tenantOf(req));
    if (!owner) throw new NotFoundError(`No resource "${resourceId}": create its keys before setting its policy`);
  };
  const admin = requireRole('admin');
  const json = express.json({ limit: '16kb', strict: true });
  const policies = (): PolicyRepository => {
    if (store) return store;
    throw new NotConfiguredError(
      'This key store keeps no per-resource policies (KEYPLANE_STORE=sqlite and dynamodb do)',
    );
  };

  router.put('/resources/:resourceId/policy', admin, noStore, json, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const rules = parseRules(req.body);
    await owned(req, resourceId);
    const policy: ResourcePolicy = { resourceId, ...rules, updatedAt: new Date() };
    await policies().put(policy);
    res.json(view(policy));
  });

  router.get('/resources/:resourceId/policy', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    await owned(req, resourceId);
    const policy = await policies().get(resourceId);
    if (!policy) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    res.json(view(policy));
  });

  router.delete('/resources/:resourceId/policy', admin, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    await owned(req, resourceId);
    if (!(await policies().delete(resourceId))) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    res.status(204).end();
  });
  return router;
}
