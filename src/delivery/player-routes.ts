import { Router } from 'express';
import { pathToken } from '../http/token-transports';
import { EXACT_ROUTING } from '../http/exact-routing';
import { NotConfiguredError } from '../auth/delivery-errors';
import { GoneError } from '../errors';
import type { PlaybackTokenService } from '../auth/playback-tokens';
import type { SecureLinkVerifier } from '../auth/secure-token';
import { checkKid, checkResourceId } from '../domain/ids';
import { noStore } from '../http/respond';
import { noteVerifiedCaller } from '../http/request-audit';
import { deliveryContext, sendDeliveredKey, settle } from './delivery-http';
import { DELIVERY_ROUTES, routeName } from './delivery-manifest';
import { secureLinkGrant, tokenGrant, tokensOf } from './grant';
import type { KeyDelivery } from './key-delivery';

/** What the routes with the credential in the URL need; tokens and secure links are absent when not configured. */
interface PlayerRouteDeps {
  delivery: KeyDelivery;
  tokens?: PlaybackTokenService;
  secureLinks?: SecureLinkVerifier;
  /** The playback-token cookie: sent alongside a path token it makes the request ambiguous (401). */
  tokenCookie?: string;
}

/**
 * Routes players call with the credential in the URL, mounted before authentication:
 * `GET /playback/{token}/keys/{resourceId}/{kid}` and `GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}`.
 */
export function playerDeliveryRoutes(deps: PlayerRouteDeps): Router {
  const router = Router(EXACT_ROUTING);
  const playbackRoute = routeName(DELIVERY_ROUTES.playbackKey);
  const secureRoute = routeName(DELIVERY_ROUTES.secureKey);
  router.get('/playback/:token/keys/:resourceId/:kid', noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const kid = checkKid(req.params.kid);
    const grant = tokenGrant(await tokensOf(deps.tokens).verify(pathToken(req, req.params.token, deps.tokenCookie)));
    noteVerifiedCaller(req, grant);
    const outcome = await deps.delivery.key(deliveryContext(req, playbackRoute, grant), resourceId, kid);
    sendDeliveredKey(res, await settle(req, res, outcome));
  });

  router.get('/secure/:link/:token/:expires/keys/:kid', noStore, async (req, res) => {
    const links = deps.secureLinks;
    if (!links) {
      throw new NotConfiguredError(
        'Secure links need KEYPLANE_SECURE_TOKEN_CLIENT_ID and KEYPLANE_SECURE_TOKEN_SECRET',
      );
    }
    const kid = checkKid(req.params.kid);
    const { link, token, expires } = req.params;
    const { resourceId, expired } = links.check(String(link), String(token), String(expires));
    // A verified link starts with the configured client id, which contains no `_`.
    const grant = secureLinkGrant(String(link).split('_')[0] ?? '', resourceId);
    noteVerifiedCaller(req, grant);
    if (expired) throw new GoneError('Secure link has expired');
    const outcome = await deps.delivery.key(deliveryContext(req, secureRoute, grant), resourceId, kid);
    sendDeliveredKey(res, await settle(req, res, outcome));
  });
  return router;
}
