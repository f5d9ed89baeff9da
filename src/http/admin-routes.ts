import express, { Router, type Request } from 'express';
import { EXACT_ROUTING } from './exact-routing';
import { ownedBy, type OwnerReader } from '../auth/resource-scope';
import type { Backend } from '../store/backend';
import { auditChange, auditDelivered, auditIssued } from './request-audit';
import { requireRole } from './authenticate';
import { hasRole, type Principal } from '../auth/principal';
import { BadRequestError, ForbiddenError, NotFoundError } from '../errors';
import type { StaticKeyResult, StaticKeyService } from '../keys/static-key-service';
import type { KeyService } from '../keys/key-service';
import { noStore, objectBody } from './respond';
import { checkResourceId } from '../domain/ids';
import { tenantOf } from './principal-tenant';

/** The response an encoder's static key provider takes (MediaConvert/MediaLive field names). */
function staticKeyBody(result: StaticKeyResult, url: string) {
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

/**
 * The owner of a resource the calling admin may act on: 403 when another tenant owns it, and the 404
 * `missing` when nobody does.
 */
async function ownedResource(req: Request, owners: OwnerReader, resourceId: string, missing: string) {
  const owner = await ownedBy(owners, resourceId, tenantOf(req));
  if (!owner) throw new NotFoundError(missing);
  return owner;
}

/** Admin routes: static keys and leases, each on resources of the caller's tenant only (`*`: all). */
export function adminRoutes(deps: {
  staticKeys: StaticKeyService;
  store: Backend;
  keys: KeyService;
  keyUrl: (resourceId: string, kid: string) => string;
}): Router {
  const router = Router(EXACT_ROUTING);
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

  router.get('/leases/:resourceId', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const missing = `No active lease for "${resourceId}"`;
    await ownedResource(req, deps.store.resources, resourceId, missing);
    const lease = await deps.keys.activeLease(resourceId);
    if (!lease) throw new NotFoundError(missing);
    res.json({
      resourceId,
      owner: lease.owner,
      kids: lease.kids,
      rotating: lease.rotating,
      expiresAt: lease.expiresAt,
    });
  });

  // An admin releases any lease of its tenant; an encoder only its own (the process that holds it, done
  // early), never another process's, and only while it still holds it (a conditional delete). Audited
  // (`release`), refusals too: an encoder trying another process's lease is worth seeing.
  router.delete('/leases/:resourceId', requireRole('admin', 'encoder'), async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const missing = `No lease for "${resourceId}"`;
    const owner = await ownedResource(req, deps.store.resources, resourceId, missing);
    const principal = req.principal as Principal;
    const holder = hasRole(principal, 'admin') ? undefined : principal.id;
    if (holder !== undefined) {
      const lease = await deps.keys.activeLease(resourceId);
      if (lease && lease.owner !== holder) {
        throw new ForbiddenError(
          `The lease on "${resourceId}" is held by another encryption process: only its holder or an admin may release it`,
        );
      }
    }
    if (!(await deps.keys.releaseLease(resourceId, holder))) throw new NotFoundError(missing);
    await auditChange(req, 'release', resourceId, 204, owner.tenant);
    res.status(204).end();
  });
  return router;
}
