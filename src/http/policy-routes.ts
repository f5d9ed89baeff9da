import express, { Router } from 'express';
import type { ResourcePolicyService } from '../auth/resource-policies';
import { requireRole } from './authenticate';
import { NotFoundError } from '../errors';
import type { ResourcePolicy } from '../store/records';
import { EXACT_ROUTING } from './exact-routing';
import { noStore } from './respond';
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

/** Admin routes for per-resource delivery policies: `PUT/GET/DELETE /resources/{resourceId}/policy`. */
export function policyRoutes(policies: ResourcePolicyService): Router {
  const router = Router(EXACT_ROUTING);
  const admin = requireRole('admin');
  const json = express.json({ limit: '16kb', strict: true });

  router.put('/resources/:resourceId/policy', admin, noStore, json, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    res.json(view(await policies.set(resourceId, req.body)));
  });

  router.get('/resources/:resourceId/policy', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const policy = await policies.get(resourceId);
    if (!policy) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    res.json(view(policy));
  });

  router.delete('/resources/:resourceId/policy', admin, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    if (!(await policies.remove(resourceId))) throw new NotFoundError(`No policy for resource "${resourceId}"`);
    res.status(204).end();
  });
  return router;
}
