import { isUtf8 } from 'node:buffer';
import { EXACT_ROUTING } from './exact-routing';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router, type Request } from 'express';
import { auditIssued } from './request-audit';
import { requireRole } from './authenticate';
import type { SpekeVersion } from '../cpix/cpix-model';
import { BadRequestError, UnprocessableError, UnsupportedMediaTypeError } from '../errors';
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
