import express, { Router, type Request } from 'express';
import type { ResourcePolicyService } from '../auth/resource-policies';
import { ownedBy, type OwnerReader } from '../auth/resource-scope';
import { tenantOf } from './principal-tenant';
import { requireRole } from './authenticate';
import { NotFoundError } from '../errors';
import type { ResourcePolicy } from '../store/records';
import { EXACT_ROUTING } from './exact-routing';
import { noStore } from './respond';
import { auditChange } from './request-audit';
import { checkResourceId } from '../domain/ids';

function view(policy: ResourcePolicy) {
  return {
    resourceId: policy.resourceId,
    allowIps: policy.allowIps ?? [],
    denyIps: policy.denyIps ?? [],
    allowOrigins: policy.allowOrigins ?? [],
    updatedAt: policy.updatedAt.toISOString(),
  };
}

/**
 * Admin routes for per-resource delivery policies: `PUT/GET/DELETE /resources/{resourceId}/policy`.
 * Setting and removing one are audited (`configure`), refusals too.
 */
export function policyRoutes(policies: ResourcePolicyService, owners: OwnerReader): Router {
  const router = Router(EXACT_ROUTING);
  // A policy belongs to a resource of the caller's tenant: 403 for another tenant's, 404 before its keys exist.
  const owned = async (req: Request, resourceId: string) => {
    const owner = await ownedBy(owners, resourceId, tenantOf(req));
    if (!owner) throw new NotFoundError(`No resource "${resourceId}": create its keys before setting its policy`);
    return owner;
  };
  const admin = requireRole('admin');
  const json = express.json({ limit: '16kb', strict: true });

  router.put('/resources/:resourceId/policy', admin, noStore, json, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const owner = await owned(req, resourceId);
    const policy = await policies.set(resourceId, req.body);
    await auditChange(req, 'configure', resourceId, 200, owner.tenant);
    res.json(view(policy));
  });

  router.get('/resources/:resourceId/policy', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    await owned(req, resourceId);
    const policy = await policies.get(resourceId);
    if (!policy) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    res.json(view(policy));
  });

  router.delete('/resources/:resourceId/policy', admin, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const owner = await owned(req, resourceId);
    if (!(await policies.remove(resourceId))) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    await auditChange(req, 'configure', resourceId, 204, owner.tenant);
    res.status(204).end();
  });
  return router;
}
