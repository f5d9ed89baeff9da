import express, { Router } from 'express';
import { EXACT_ROUTING } from '../http/exact-routing';
import { requireRole } from '../auth/authenticate';
import type { PlaybackTokenService } from '../auth/playback-tokens';
import { noStore, objectBody } from '../http/respond';
import { tokensOf } from './grant';

/** The base key URL a token grants: append `/{kid}`. */
export function playbackKeyBase(publicUrl: string, token: string, resourceId: string): string {
  return `${publicUrl}/playback/${token}/keys/${encodeURIComponent(resourceId)}`;
}

/** `POST /playback-tokens` (admin or token-issuer): mints a token and the key URL base players use. */
export function tokenIssuerRoutes(deps: { tokens?: PlaybackTokenService; publicUrl: string }): Router {
  const router = Router(EXACT_ROUTING);
  const json = express.json({ limit: '16kb', strict: true });
  router.post('/playback-tokens', requireRole('token-issuer'), noStore, json, async (req, res) => {
    const body = objectBody(req.body);
    const issued = await tokensOf(deps.tokens).issue({
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
