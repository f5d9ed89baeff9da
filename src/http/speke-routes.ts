import { isUtf8 } from 'node:buffer';
import { EXACT_ROUTING } from './exact-routing';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router, type Request } from 'express';
import { auditIssued } from './request-audit';
import { requireRole } from './authenticate';
import type { SpekeVersion } from '../cpix/cpix-model';
import { BadRequestError, KeyplaneError, UnprocessableError, UnsupportedMediaTypeError } from '../errors';
import type { SpekeService } from '../speke/speke-service';
import { VERSION } from '../version';
import type { FeatureManifest } from './feature-manifest';
import { tenantOf } from './principal-tenant';

const XML_TYPES = /^(application|text)\/([\w.+-]+\+)?xml$/i;

/** SPEKE versions this build speaks, by `X-Speke-Version` header value. */
const SUPPORTED_SPEKE: Readonly<Record<string, SpekeVersion>> = { '1.0': '1.0', '2.0': '2.0', '2.1': '2.1' };

/** Reads `X-Speke-Version`: absent → v1; unknown → 422 `Unsupported SPEKE version`. */
function spekeVersionOf(req: Request): SpekeVersion {
  const raw = req.get('x-speke-version');
  if (raw === undefined) return '1.0';
  const value = raw.trim();
  const version = Object.hasOwn(SUPPORTED_SPEKE, value) ? SUPPORTED_SPEKE[value] : undefined;
  if (!version) throw new UnprocessableError('Unsupported SPEKE version');
  return version;
}

function requireXml(req: Request): void {
  const type = (req.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (!XML_TYPES.test(type)) throw new UnsupportedMediaTypeError('application/xml', type || undefined);
}

/** Rejects a UTF-8 body with invalid bytes, which decoding would silently turn into U+FFFD (XML makes it fatal). */
function strictUtf8(_req: IncomingMessage, _res: ServerResponse, body: Buffer, encoding: string): void {
  if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) throw new BadRequestError('Request body is not valid UTF-8');
}

/** Any other method on the SPEKE path (405): a browser's or curl's GET learns that encoders POST. */
class SpekeMethodError extends KeyplaneError {
  constructor(method: string) {
    super(405, 'method_not_allowed', `${method} /copyProtection is not supported: encoders POST a CPIX document`, {
      headers: { Allow: 'POST' },
    });
  }
}

/** `POST /copyProtection`: the SPEKE endpoint encoders call. */
function spekeRoutes(speke: SpekeService, maxBodyBytes: number): Router {
  const router = Router(EXACT_ROUTING);
  router.post(
    '/copyProtection',
    requireRole('encoder'),
    (req, _res, next) => {
      requireXml(req);
      next();
    },
    express.text({ type: () => true, limit: maxBodyBytes, defaultCharset: 'utf-8', verify: strictUtf8 }),
    async (req, res) => {
      const version = spekeVersionOf(req);
      const body = typeof req.body === 'string' ? req.body : '';
      if (body.trim() === '') throw new BadRequestError('Request body is empty: send a CPIX document');
      const xml = await speke.handle({
        body,
        speke: version,
        owner: req.principal?.id ?? 'anonymous',
        tenant: tenantOf(req),
        onIssued: (resourceId, kids) => auditIssued(req, resourceId, kids),
      });
      if (version === '1.0') res.set('Speke-User-Agent', `Keyplane/${VERSION}`);
      else res.set({ 'X-Speke-Version': version, 'X-Speke-User-Agent': `Keyplane/${VERSION}` });
      res.set('Cache-Control', 'no-store');
      res.type('application/xml').send(xml);
    },
  );
  // Not a route of its own (the manifest lists POST only): any other method on the exact path is refused.
  router.use(function refuseOtherMethods(req, _res, next) {
    if (req.path === '/copyProtection' && req.method !== 'POST') throw new SpekeMethodError(req.method);
    next();
  });
  return router;
}

/** SPEKE's HTTP surface: built eagerly (the encoder's request is the Lambda's hot path), after authentication. */
export const SPEKE_MANIFEST: FeatureManifest = {
  feature: 'speke',
  mounts: [
    {
      name: 'speke',
      stage: 'authenticated',
      eager: true,
      segments: ['copyProtection'],
      build: (deps) => spekeRoutes(deps.speke, deps.maxBodyBytes),
      routes: [{ method: 'POST', path: '/copyProtection', audit: 'issue' }],
    },
  ],
};
