import express, { Router, type Request, type Response } from 'express';
import { NotConfiguredError } from '../auth/delivery-errors';
import type { Role } from '../auth/principal';
import type { WidevineCencService } from '../widevine/cenc-service';
import { refusalBody } from '../widevine/cenc-service';
import { WidevineStatusError } from '../widevine/cenc-status';
import { EXACT_ROUTING } from './exact-routing';
import { auditIssued } from './request-audit';

/** A Widevine API request is a few hundred bytes of JSON; 64 KiB is room for any honest one. */
const MAX_WIDEVINE_BODY = 64 * 1024;

/** Answers a refusal as Widevine's service does: HTTP 200, the status in the envelope (never a key). */
function refuse(res: Response, err: WidevineStatusError): void {
  // A bad signature is a failed credential: it counts toward the per-IP limit (KEYPLANE_RATE_LIMIT_FAILED_AUTH).
  if (err.status === 'SIGNATURE_FAILED') res.locals.credentialFailed = true;
  res.set('Cache-Control', 'no-store').json(refusalBody(err));
}

async function serve(service: WidevineCencService | undefined, req: Request, res: Response): Promise<void> {
  if (!service) {
    throw new NotConfiguredError('The Widevine API needs KEYPLANE_WIDEVINE_SIGNERS or KEYPLANE_WIDEVINE_RSA_SIGNERS');
  }
  const body = typeof req.body === 'string' ? req.body : '';
  try {
    const { signer, message } = service.authenticate(body);
    // The signer is the caller from here on: an encoder of its tenant, named in the audit trail.
    req.principal = {
      id: `widevine:${signer.name}`,
      roles: new Set<Role>(['encoder']),
      via: 'widevine-signer',
      tenant: signer.tenant,
    };
    const answer = await service.issue(signer, message);
    await auditIssued(req, answer.resourceId, answer.kids);
    res.set('Cache-Control', 'no-store').json(answer.body);
  } catch (err) {
    if (err instanceof WidevineStatusError) return refuse(res, err);
    throw err;
  }
}

/**
 * `POST /widevine/cenc`: the Widevine Common Encryption API for Shaka Packager. Public: the request carries
 * its own credential (a signer's signature over the request), so the packager needs no header of ours.
 * Any content type is read as text: packagers send JSON under whatever type their HTTP library picks.
 * Without a configured signer it answers 501 naming the variables.
 */
export function widevineRoutes(service: WidevineCencService | undefined): Router {
  const router = Router(EXACT_ROUTING);
  router.post(
    '/widevine/cenc',
    express.text({ type: () => true, limit: MAX_WIDEVINE_BODY, defaultCharset: 'utf-8' }),
    (req, res) => serve(service, req, res),
  );
  return router;
}
