import express, { Router, type Request } from 'express';
import { EXACT_ROUTING } from '../http/exact-routing';
import { requireRole } from '../http/authenticate';
import type { PlaybackTokenService } from '../auth/playback-tokens';
import { checkJti, type TokenRevocations } from '../auth/token-revocation';
import { NotConfiguredError } from '../auth/delivery-errors';
import { hasRole } from '../auth/principal';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { toKeyplaneError } from '../http/error-handler';
import { clientIp } from '../http/client-info';
import type { Principal } from '../auth/principal';
import { ownedBy, type OwnerReader } from '../auth/resource-scope';
import { checkResourceId } from '../domain/ids';
import { ALL_TENANTS } from '../domain/tenants';
import { NotFoundError } from '../errors';
import { noStore, objectBody } from '../http/respond';
import { auditChange } from '../http/request-audit';
import { DELIVERY_ROUTES, routeName } from './delivery-manifest';
import { tokensOf } from './grant';

/** The base key URL a token grants: append `/{kid}`. */
export function playbackKeyBase(publicUrl: string, token: string, resourceId: string): string {
  return `${publicUrl}/playback/${token}/keys/${encodeURIComponent(resourceId)}`;
}

const REVOKE_ROUTE = routeName(DELIVERY_ROUTES.revokeToken);

/**
 * Audits a revocation (or its refusal) under resource `token:<jti>` (the jti as sent when malformed), in
 * the revoker's tenant.
 */
async function auditRevocation(req: Request, jti: string, status: number, reason?: string): Promise<void> {
  const ip = clientIp(req);
  // Refusals naming no caller are sampled like those of the delivery routes (a flood stays bounded).
  if (!req.principal && req.auditSampler && !req.auditSampler.admit(REVOKE_ROUTE, ip, reason ?? '')) return;
  await req.audit?.record([
    {
      action: 'revoke',
      route: REVOKE_ROUTE,
      resourceId: `token:${jti.slice(0, 64)}`,
      status,
      ...(reason === undefined ? {} : { reason }),
      ...(req.principal ? { principal: req.principal.id } : {}),
      // A `*` revoker's revocation holds for every tenant, and a refusal naming nobody is no tenant's: both
      // under `*`, which only admins of `*` see (no tenant's admin reads another's jti).
      tenant: req.principal?.tenant ?? ALL_TENANTS,
      ...(ip === '' ? {} : { clientIp: ip }),
    },
  ]);
}

/**
 * The tenant a token for `resourceId` is minted for: the resource's owner, which must exist (404: a
 * token for keys nobody created yet is refused) and be the issuer's tenant (`*`: any; else 403).
 */
async function tokenTenant(owners: OwnerReader, principal: Principal, resourceId: string): Promise<string> {
  const owner = await ownedBy(owners, resourceId, principal.tenant);
  if (!owner) throw new NotFoundError(`No resource "${resourceId}": create its keys before minting tokens for it`);
  return owner.tenant;
}

/**
 * `POST /playback-tokens` (admin or token-issuer): mints a token for a resource of the issuer's tenant,
 * carrying that tenant (`ten`), and the key URL base players use; audited (`grant`, resource
 * `token:<jti>`, so the minter of a token its deliveries name is one query away). `DELETE /playback-tokens/{jti}` (same
 * roles): revokes one; every instance refuses it on its next use.
 */
export function tokenIssuerRoutes(deps: {
  tokens?: PlaybackTokenService;
  revocations?: TokenRevocations;
  publicUrl: string;
  owners: OwnerReader;
}): Router {
  const router = Router(EXACT_ROUTING);
  const json = express.json({ limit: '16kb', strict: true });
  router.post('/playback-tokens', requireRole('token-issuer'), noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const tokens = tokensOf(deps.tokens);
    const resourceId = checkResourceId(body.resourceId);
    const tenant = await tokenTenant(deps.owners, req.principal as Principal, resourceId);
    const issued = await tokens.issue({ resourceId, ttlSeconds: body.ttlSeconds, kids: body.kids, tenant });
    await auditChange(req, 'grant', `token:${issued.jti}`, 201, tenant);
    res.status(201).json({
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
      keyUrl: playbackKeyBase(deps.publicUrl, issued.token, issued.resourceId),
    });
  });
  router.delete('/playback-tokens/:jti', noStore, async (req, res) => {
    const raw = String(req.params.jti);
    try {
      // The role is checked here, not by requireRole, so that its refusals are audited too.
      if (!req.principal) throw new UnauthorizedError();
      if (!hasRole(req.principal, 'token-issuer')) throw new ForbiddenError('This route needs the token-issuer role');
      if (!deps.revocations) {
        throw new NotConfiguredError('Playback tokens are not configured: set KEYPLANE_TOKEN_SIGNING_KEYS');
      }
      const jti = checkJti(raw);
      await deps.revocations.revoke(jti, req.principal as NonNullable<typeof req.principal>);
      await auditRevocation(req, jti, 204);
    } catch (err) {
      const known = toKeyplaneError(err);
      await auditRevocation(req, raw, known?.status ?? 500, known?.code ?? 'internal');
      throw err;
    }
    res.status(204).end();
  });
  return router;
}
