import express, { Router } from 'express';
import { auditDelivered } from '../audit/request-audit';
import type { AccessPolicy } from '../auth/access-policy';
import { requireRole } from '../auth/authenticate';
import { pathToken } from '../auth/canonical-token';
import { NotConfiguredError } from '../auth/delivery-errors';
import { checkTokenScope } from '../auth/key-access';
import { tokenPrincipal, type PlaybackTokenService } from '../auth/playback-tokens';
import type { SecureLinkVerifier } from '../auth/secure-token';
import type { KeyService } from '../keys/key-service';
import { policyCheckedKey, sendKeyBytes } from './key-routes';
import { noStore, objectBody } from './respond';
import { checkKid, checkResourceId } from '../domain/ids';

/** What the player-facing delivery routes need; tokens and secure links are absent when not configured. */
export interface DeliveryDeps {
  keys: KeyService;
  policy: AccessPolicy;
  publicUrl: string;
  tokens?: PlaybackTokenService;
  secureLinks?: SecureLinkVerifier;
}

function tokensOf(deps: DeliveryDeps): PlaybackTokenService {
  if (!deps.tokens) {
    throw new NotConfiguredError('Playback tokens need KEYPLANE_TOKEN_SIGNING_KEYS with this store');
  }
  return deps.tokens;
}

/** The base key URL a token grants: append `/{kid}`. */
export function playbackKeyBase(publicUrl: string, token: string, resourceId: string): string {
  return `${publicUrl}/playback/${token}/keys/${encodeURIComponent(resourceId)}`;
}

/**
 * Routes players call with the credential in the URL, mounted before authentication:
 * `GET /playback/{token}/keys/{resourceId}/{kid}` and `GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}`.
 */
export function playerDeliveryRoutes(deps: DeliveryDeps): Router {
  const router = Router();
  router.get('/playback/:token/keys/:resourceId/:kid', noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const kid = checkKid(req.params.kid);
    const grant = await tokensOf(deps).verify(pathToken(req, req.params.token));
    checkTokenScope(tokenPrincipal(grant), resourceId, kid);
    const key = await policyCheckedKey(req, res, deps.keys, deps.policy, resourceId, kid);
    await auditDelivered(req, resourceId, [kid]);
    sendKeyBytes(res, key);
  });

  router.get('/secure/:link/:token/:expires/keys/:kid', noStore, async (req, res) => {
    if (!deps.secureLinks) {
      throw new NotConfiguredError(
        'Secure links need KEYPLANE_SECURE_TOKEN_CLIENT_ID and KEYPLANE_SECURE_TOKEN_SECRET',
      );
    }
    const kid = checkKid(req.params.kid);
    const { link, token, expires } = req.params;
    const resourceId = deps.secureLinks.verify(String(link), String(token), String(expires));
    const key = await policyCheckedKey(req, res, deps.keys, deps.policy, resourceId, kid);
    await auditDelivered(req, resourceId, [kid]);
    sendKeyBytes(res, key);
  });
  return router;
}

/** `POST /playback-tokens` (admin or token-issuer): mints a token and the key URL base players use. */
export function tokenIssuerRoutes(deps: DeliveryDeps): Router {
  const router = Router();
  const json = express.json({ limit: '16kb', strict: true });
  router.post('/playback-tokens', requireRole('token-issuer'), noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const issued = await tokensOf(deps).issue({
      resourceId: body.resourceId,
      ttlSeconds: body.ttlSeconds,
      kids: body.kids,
    });
    res.status(201).json({
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
      keyUrl: playbackKeyBase(deps.publicUrl, issued.token, issued.resourceId),
    });
  });
  return router;
}
