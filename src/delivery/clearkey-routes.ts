import express, { Router, type Request, type Response } from 'express';
import { authenticate, type HttpAuthenticator } from '../http/authenticate';
import { EXACT_ROUTING } from '../http/exact-routing';
import { hasRole } from '../auth/principal';
import { licenseResponse, parseLicenseRequest, type LicenseKey } from '../drm/clearkey-license';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { corsActual, corsPreflight } from '../http/cors';
import { verifySignedBody } from '../http/signed-body';
import type { CorsOrigins } from './cors';
import { deliveryContext, settle } from './delivery-http';
import { DELIVERY_ROUTES, routeName } from './delivery-manifest';
import { isPlayerCredential, principalGrant, type DeliveryGrant } from './grant';
import type { KeyDelivery } from './key-delivery';

/** Where players send W3C Clear Key license requests (the `clearkey:Laurl` of Keyplane's DASH signalling). */
const CLEARKEY_LICENSE_PATH = '/clearkey/license';

/** What the license route needs. */
interface ClearKeyDeps {
  delivery: KeyDelivery;
  /** The app's authenticators (API keys, SigV4, playback tokens, ...). */
  authenticators: HttpAuthenticator[];
  corsOrigins: CorsOrigins;
}

const LICENSE_BODY_LIMIT = '8kb';
const LICENSE_BODY_BYTES = 8 * 1024;

/** The grant of a license caller: a playback token's scope, or the keyserver (or admin) role. */
function licenseGrant(req: Request): DeliveryGrant {
  const principal = req.principal;
  if (!principal) throw new UnauthorizedError();
  if (isPlayerCredential(principal) || hasRole(principal, 'keyserver')) return principalGrant(principal);
  throw new ForbiddenError('Clear Key licenses need the keyserver role or a playback token');
}

function sendLicense(res: Response, keys: LicenseKey[]): void {
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  res.status(200).json(licenseResponse(keys));
}

/**
 * `POST /clearkey/license` (and its CORS preflight), mounted before the app-wide authentication so the
 * preflight needs no credential: W3C Clear Key license requests from EME players, answered with the keys
 * found (unknown KIDs left out; none found → 404) to a keyserver/admin caller or a playback token whose
 * resource (and KID list) covers every requested KID (else 403).
 */
export function clearKeyRoutes(deps: ClearKeyDeps): Router {
  const router = Router(EXACT_ROUTING);
  const route = routeName(DELIVERY_ROUTES.license);
  const json = express.json({ limit: LICENSE_BODY_LIMIT, strict: false, type: () => true });
  router.options(CLEARKEY_LICENSE_PATH, corsPreflight(deps.corsOrigins, 'POST'));
  router.post(
    CLEARKEY_LICENSE_PATH,
    corsActual(deps.corsOrigins),
    (_req, res, next) => {
      res.set('Cache-Control', 'no-store');
      next();
    },
    authenticate(deps.authenticators),
    verifySignedBody(LICENSE_BODY_BYTES),
    json,
    async (req, res) => {
      const grant = licenseGrant(req);
      const { kids } = parseLicenseRequest(req.body);
      const outcome = await deps.delivery.license(deliveryContext(req, route, grant), kids);
      sendLicense(res, (await settle(req, res, outcome)).keys);
    },
  );
  return router;
}
