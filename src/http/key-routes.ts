import { Router, type Response } from 'express';
import { requireRole } from '../auth/authenticate';
import type { KeyService } from '../keys/key-service';
import { checkKid, checkResourceId } from './validate';

/** Sends 16 raw key bytes the way HLS players and keyserver proxies expect them. */
export function sendKeyBytes(res: Response, key: Buffer): void {
  res.set({
    'Content-Type': 'application/octet-stream',
    'Content-Transfer-Encoding': 'binary',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Length': String(key.length),
  });
  res.status(200).end(key);
}

/** `GET /keys/{resourceId}/{kid}`: key delivery to keyserver proxies (and players via the URIExtXKey URL). */
export function keyRoutes(keys: KeyService): Router {
  const router = Router();
  router.get('/keys/:resourceId/:kid', requireRole('keyserver'), async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const kid = checkKid(req.params.kid);
    const { key } = await keys.get(resourceId, kid);
    sendKeyBytes(res, key);
  });
  return router;
}
