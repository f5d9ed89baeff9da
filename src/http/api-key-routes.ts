import express, { Router } from 'express';
import { EXACT_ROUTING } from './exact-routing';
import type { ApiKeyService } from '../auth/api-keys';
import { requireRole } from './authenticate';
import { ALL_TENANTS, checkTenantId, DEFAULT_TENANT } from '../domain/tenants';
import { ForbiddenError, NotFoundError } from '../errors';
import type { Backend } from '../store/backend';
import { tenantOf } from './principal-tenant';
import { noStore, objectBody } from './respond';
import { apiKeyResource, auditChange } from './request-audit';

/**
 * The tenant a new API key gets: the body's `tenant`, else the caller's (`default` for `*`). A tenant
 * admin may only create keys of its own tenant, never `*` ones (403, nothing created).
 */
function newKeyTenant(caller: string, requested: unknown): string {
  if (requested === undefined || requested === null) return caller === ALL_TENANTS ? DEFAULT_TENANT : caller;
  const tenant = checkTenantId(requested, 'tenant', { allowAll: true });
  if (caller !== ALL_TENANTS && tenant !== caller) {
    throw new ForbiddenError(`An admin of tenant "${caller}" can only create API keys of tenant "${caller}"`);
  }
  return tenant;
}

/**
 * The tenant filter of `GET /api-keys` and `GET /audit`: a tenant admin sees its own tenant only (asking
 * for another is a 403); `*` sees all, or the one `?tenant=` names.
 */
export function tenantFilter(caller: string, requested: unknown): string | undefined {
  if (requested === undefined) return caller === ALL_TENANTS ? undefined : caller;
  const tenant = checkTenantId(typeof requested === 'string' ? requested : undefined, 'tenant');
  if (caller !== ALL_TENANTS && tenant !== caller) {
    throw new ForbiddenError(`An admin of tenant "${caller}" can only see tenant "${caller}"`);
  }
  return tenant;
}

/**
 * API keys and tenants (admin): `POST/GET /api-keys`, `DELETE /api-keys/{id}` scoped to the caller's
 * tenant (`*`: all), and `GET /tenants` (admins of `*` only). Creating and revoking a key are audited
 * (`grant`, `revoke`; resource `apikey:<id>`), refusals too.
 */
export function apiKeyRoutes(deps: { apiKeys: ApiKeyService; store: Backend }): Router {
  const router = Router(EXACT_ROUTING);
  const admin = requireRole('admin');
  const json = express.json({ limit: '16kb', strict: true });

  router.post('/api-keys', admin, noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const tenant = newKeyTenant(tenantOf(req), body.tenant);
    const created = await deps.apiKeys.create(body.name as string, body.roles, tenant);
    await auditChange(req, 'grant', apiKeyResource(created.record.id), 201, tenant);
    res.status(201).json({ ...created.record, key: created.key });
  });

  router.get('/api-keys', admin, noStore, async (req, res) => {
    const tenant = tenantFilter(tenantOf(req), req.query.tenant);
    res.json({ apiKeys: await deps.apiKeys.list(tenant) });
  });

  router.delete('/api-keys/:id', admin, async (req, res) => {
    const id = String(req.params.id);
    const caller = tenantOf(req);
    const record = await deps.store.apiKeys.get(id);
    // Another tenant's key is as unknown to a tenant admin as a missing one: its existence is not revealed.
    const foreign = caller !== ALL_TENANTS && record?.tenant !== caller;
    if (foreign || !record || !(await deps.apiKeys.revoke(id))) {
      throw new NotFoundError(`No active API key with id "${id}"`);
    }
    await auditChange(req, 'revoke', apiKeyResource(id), 204, record.tenant);
    res.status(204).end();
  });

  router.get('/tenants', admin, noStore, async (req, res) => {
    if (tenantOf(req) !== ALL_TENANTS) {
      throw new ForbiddenError('Only an admin of every tenant (tenant "*") may list the tenants');
    }
    res.json({ tenants: await deps.store.tenants.list() });
  });
  return router;
}
