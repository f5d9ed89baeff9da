import express, { Router } from 'express';
import type { ApiKeyService } from '../auth/api-keys';
import { auditDelivered, auditIssued } from './request-audit';
import { requireRole } from '../auth/authenticate';
import { BadRequestError, NotFoundError } from '../errors';
import type { StaticKeyResult, StaticKeyService } from '../keys/static-key-service';
import type { KeyService } from '../keys/key-service';
import { noStore, objectBody } from './respond';
import { checkResourceId } from '../domain/ids';
import { tenantOf } from './principal-tenant';

/** The response an encoder's static key provider takes (MediaConvert/MediaLive field names). */
export function staticKeyBody(result: StaticKeyResult, url: string) {
  return {
    resourceId: result.resourceId,
    kid: result.kid,
    StaticKeyValue: result.key.toString('hex'),
    Url: url,
    KeyFormat: 'identity',
    KeyFormatVersions: '1',
    ConstantInitializationVector: result.iv.toString('hex'),
  };
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${field} must be a string`);
  return value;
}

/** Admin routes: static keys, API keys and leases. */
export function adminRoutes(deps: {
  staticKeys: StaticKeyService;
  apiKeys: ApiKeyService;
  keys: KeyService;
  keyUrl: (resourceId: string, kid: string) => string;
}): Router {
  const router = Router();
  const admin = requireRole('admin');
  const json = express.json({ limit: '16kb', strict: true });

  router.post('/static-keys', admin, noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const resourceId = checkResourceId(body.resourceId);
    const result = await deps.staticKeys.create(
      {
        resourceId,
        keyHex: optionalString(body, 'keyHex'),
        ivHex: optionalString(body, 'ivHex'),
      },
      tenantOf(req),
    );
    const status = result.created ? 201 : 200;
    await auditIssued(req, resourceId, [result.kid], status);
    res.status(status).json(staticKeyBody(result, deps.keyUrl(resourceId, result.kid)));
  });

  router.get('/static-keys/:resourceId', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const result = await deps.staticKeys.show(resourceId, tenantOf(req));
    if (!result) throw new NotFoundError(`No static key for resource "${resourceId}"`);
    await auditDelivered(req, resourceId, [result.kid]);
    res.json(staticKeyBody(result, deps.keyUrl(resourceId, result.kid)));
  });

  router.post('/api-keys', admin, noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const created = await deps.apiKeys.create(body.name as string, body.roles);
    res.status(201).json({ ...created.record, key: created.key });
  });

  router.get('/api-keys', admin, noStore, async (_req, res) => {
    res.json({ apiKeys: await deps.apiKeys.list() });
  });

  router.delete('/api-keys/:id', admin, async (req, res) => {
    if (!(await deps.apiKeys.revoke(String(req.params.id)))) {
      throw new NotFoundError(`No active API key with id "${req.params.id}"`);
    }
    res.status(204).end();
  });

  router.get('/leases/:resourceId', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const lease = await deps.keys.activeLease(resourceId);
    if (!lease) throw new NotFoundError(`No active lease for "${resourceId}"`);
    res.json({
      resourceId,
      owner: lease.owner,
      kids: lease.kids,
      rotating: lease.rotating,
      expiresAt: lease.expiresAt,
    });
  });

  router.delete('/leases/:resourceId', admin, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    if (!(await deps.keys.releaseLease(resourceId))) throw new NotFoundError(`No lease for "${resourceId}"`);
    res.status(204).end();
  });
  return router;
}
