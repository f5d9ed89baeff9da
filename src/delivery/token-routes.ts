import express, { Router } from 'express';
import { requireRole } from '../auth/authenticate';
import type { PlaybackTokenService } from '../auth/playback-tokens';
import type { Principal } from '../auth/principal';
import { ownedBy, type OwnerReader } from '../auth/resource-scope';
import { checkResourceId } from '../domain/ids';
import { NotFoundError } from '../errors';
import { noStore, objectBody } from '../http/respond';
import { tokensOf } from './grant';

/** The base key URL a token grants: append `/{kid}`. */
export function playbackKeyBase(publicUrl: string, token: string, resourceId: string): string {
  return `${publicUrl}/playback/${token}/keys/${encodeURIComponent(resourceId)}`;
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
 * `POST /playback-tokens` (admin or token-issuer): mints a token for a resource of the issuer's
 * tenant, carrying that tenant (`ten`), and the key URL base players use.
 */
export function tokenIssuerRoutes(deps: {
  tokens?: PlaybackTokenService;
  publicUrl: string;
  owners: OwnerReader;
}): Router {
  const router = Router();
  const json = express.json({ limit: '16kb', strict: true });
  router.post('/playback-tokens', requireRole('token-issuer'), noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const tokens = tokensOf(deps.tokens);
    const resourceId = checkResourceId(body.resourceId);
    const tenant = await tokenTenant(deps.owners, req.principal as Principal, resourceId);
    const issued = await tokens.issue({ resourceId, ttlSeconds: body.ttlSeconds, kids: body.kids, tenant });
    res.status(201).json({
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
      keyUrl: playbackKeyBase(deps.publicUrl, issued.token, issued.resourceId),
    });
  });
  return router;
}
