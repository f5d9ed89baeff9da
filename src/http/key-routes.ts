import { Router, type Request, type Response } from 'express';
import { auditDelivered } from '../audit/request-audit';
import type { AccessPolicy } from '../auth/access-policy';
import { requireKeyAccess } from '../auth/key-access';
import type { KeyService } from '../keys/key-service';
import { checkKid, checkResourceId } from '../domain/ids';

/** The headers of every key response: raw bytes that no cache, proxy or browser may keep. */
const KEY_HEADERS = {
  'Content-Type': 'application/octet-stream',
  'Content-Transfer-Encoding': 'binary',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
} as const;

/**
 * Sends 16 raw key bytes the way HLS players and keyserver proxies expect them. One `writeHead`
 * (headers set earlier, e.g. X-Request-Id or CORS, are kept): the hottest route skips Express's
 * per-header `res.set` work.
 */
export function sendKeyBytes(res: Response, key: Buffer): void {
  res.writeHead(200, { ...KEY_HEADERS, 'Content-Length': key.length });
  res.end(key);
}

/**
 * The key a delivery route may send: the access policy and the key are read at the same time (two
 * DynamoDB round trips become one), and a policy refusal wins over a missing key, so a denied caller
 * learns nothing about which KIDs exist.
 */
export async function policyCheckedKey(
  req: Request,
  res: Response,
  keys: KeyService,
  policy: AccessPolicy | undefined,
  resourceId: string,
  kid: string,
): Promise<Buffer> {
  const [allowed, found] = await Promise.allSettled([policy?.check(req, res, resourceId), keys.get(resourceId, kid)]);
  if (allowed.status === 'rejected') throw allowed.reason;
  if (found.status === 'rejected') throw found.reason;
  return found.value.key;
}

/**
 * `GET /keys/{resourceId}/{kid}`: key delivery to keyserver proxies (API key or SigV4, role keyserver)
 * and players (playback token as Bearer or `?token=`), subject to the delivery access policy.
 */
export function keyRoutes(keys: KeyService, policy?: AccessPolicy): Router {
  const router = Router();
  router.get('/keys/:resourceId/:kid', requireKeyAccess, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const kid = checkKid(req.params.kid);
    const key = await policyCheckedKey(req, res, keys, policy, resourceId, kid);
    await auditDelivered(req, resourceId, [kid]);
    sendKeyBytes(res, key);
  });
  return router;
}
