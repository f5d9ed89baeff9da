import express, { Router, type Request, type Response } from 'express';
import { auditDelivered } from '../audit/request-audit';
import type { AccessPolicy } from '../auth/access-policy';
import { authenticate, type Authenticator } from '../auth/authenticate';
import { AccessDeniedError } from '../auth/delivery-errors';
import { hasRole, type Principal } from '../auth/principal';
import { licenseResponse, parseLicenseRequest, type LicenseKey } from '../drm/clearkey-license';
import { ForbiddenError, NotFoundError } from '../errors';
import type { KeyService } from '../keys/key-service';
import type { StoredKey } from '../store/key-store';
import { verifySignedBody } from './signed-body';
import { corsActual, corsPreflight, type CorsOrigins } from './cors';

/** Where players send W3C Clear Key license requests (the `clearkey:Laurl` of Keyplane's DASH signalling). */
export const CLEARKEY_LICENSE_PATH = '/clearkey/license';

/** What the license route needs. */
export interface ClearKeyDeps {
  keys: KeyService;
  /** The app's authenticators (API keys, SigV4, playback tokens, ...). */
  authenticators: Authenticator[];
  corsOrigins: CorsOrigins;
  /** The delivery access policy (IP and origin rules), when configured. */
  policy?: AccessPolicy;
}

const LICENSE_BODY_LIMIT = '8kb';
const LICENSE_BODY_BYTES = 8 * 1024;

function checkCaller(principal: Principal): void {
  if (principal.via === 'token' || hasRole(principal, 'keyserver')) return;
  throw new ForbiddenError('Clear Key licenses need the keyserver role or a playback token');
}

/** A playback token may only read KIDs it lists (when it lists any) that belong to its own resource. */
function checkTokenCovers(principal: Principal, kids: string[], found: Map<string, StoredKey>): void {
  if (principal.via !== 'token') return;
  const outside = kids.find((kid) => principal.kids !== undefined && !principal.kids.has(kid));
  if (outside !== undefined) {
    throw new AccessDeniedError('token_kid_not_allowed', `Playback token does not cover KID ${outside}`);
  }
  const foreign = [...found.values()].find((stored) => stored.resourceId !== principal.resourceId);
  if (foreign !== undefined) {
    throw new AccessDeniedError(
      'token_resource_mismatch',
      `KID ${foreign.kid} belongs to a different resource than the playback token`,
    );
  }
}

function resourcesToCheck(principal: Principal, found: Map<string, StoredKey>): string[] {
  if (principal.via === 'token' && principal.resourceId !== undefined) return [principal.resourceId];
  return [...new Set([...found.values()].map((stored) => stored.resourceId))];
}

function sendLicense(res: Response, keys: LicenseKey[]): void {
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  res.status(200).json(licenseResponse(keys));
}

async function handleLicense(deps: ClearKeyDeps, req: Request, res: Response): Promise<void> {
  const principal = req.principal as Principal;
  checkCaller(principal);
  const { kids } = parseLicenseRequest(req.body);
  const found = await deps.keys.findByKids(kids);
  checkTokenCovers(principal, kids, found);
  for (const resourceId of resourcesToCheck(principal, found)) await deps.policy?.check(req, res, resourceId);
  const stored = kids.flatMap((kid) => found.get(kid) ?? []);
  if (stored.length === 0) throw new NotFoundError('No key for any of the requested KIDs');
  const opened = await Promise.all(stored.map((s) => deps.keys.open(s)));
  for (const resourceId of new Set(stored.map((s) => s.resourceId))) {
    const kids = stored.filter((s) => s.resourceId === resourceId).map((s) => s.kid);
    await auditDelivered(req, resourceId, kids);
  }
  sendLicense(res, opened);
}

/**
 * `POST /clearkey/license` (and its CORS preflight), mounted before the app-wide authentication so the
 * preflight needs no credential: W3C Clear Key license requests from EME players, answered with the keys
 * found (unknown KIDs left out; none found → 404) to a keyserver/admin caller or a playback token whose
 * resource (and KID list) covers every requested KID (else 403).
 */
export function clearKeyRoutes(deps: ClearKeyDeps): Router {
  const router = Router();
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
    (req, res) => handleLicense(deps, req, res),
  );
  return router;
}
