import { Router, type Request } from 'express';
import { EXACT_ROUTING } from '../http/exact-routing';
import { hasRole } from '../auth/principal';
import { checkKid, checkResourceId } from '../domain/ids';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { deliveryContext, sendDeliveredKey, settle } from './delivery-http';
import { DELIVERY_ROUTES, routeName } from './delivery-manifest';
import { isPlayerCredential, principalGrant, type DeliveryGrant } from './grant';
import type { KeyDelivery } from './key-delivery';

/**
 * The grant of the authenticated caller of `/keys`: a playback or EdgeAuth token (its scope is checked
 * by the service), or the keyserver (or admin) role; 401 without a caller, 403 for other roles.
 */
export function keyserverOrTokenGrant(req: Request): DeliveryGrant {
  const principal = req.principal;
  if (!principal) throw new UnauthorizedError();
  if (!isPlayerCredential(principal) && !hasRole(principal, 'keyserver')) {
    throw new ForbiddenError('This route needs the keyserver role');
  }
  return principalGrant(principal);
}

/**
 * `GET /keys/{resourceId}/{kid}`: key delivery to keyserver proxies (API key or SigV4, role keyserver)
 * and players (playback token as Bearer, `?token=` or cookie; EdgeAuth token), subject to the delivery access policy.
 */
export function keyRoutes(delivery: KeyDelivery): Router {
  const router = Router(EXACT_ROUTING);
  const route = routeName(DELIVERY_ROUTES.key);
  router.get('/keys/:resourceId/:kid', async (req, res) => {
    const grant = keyserverOrTokenGrant(req);
    const resourceId = checkResourceId(req.params.resourceId);
    const kid = checkKid(req.params.kid);
    const outcome = await delivery.key(deliveryContext(req, route, grant), resourceId, kid);
    sendDeliveredKey(res, await settle(req, res, outcome));
  });
  return router;
}
