/**
 * `GET /exports/{resourceId}` and `POST /imports` (admin): the HTTP form of `keyplane export`/`import`.
 * An export is a CPIX 2.3 document encrypted to the certificate in `X-Keyplane-Recipient-Certificate`
 * (base64 DER, vetted like a SPEKE delivery certificate and held to KEYPLANE_DELIVERY_CERT_SHA256 when
 * set), or in the clear only with `?plaintext=true`. An import takes a plain CPIX document (encrypted
 * ones go through the CLI, which holds the private key). Both reach the caller's tenant only, and are audited.
 */
import express, { Router, type Request } from 'express';
import { buildKeyArchive, readKeyArchive, type ArchiveRecipient } from '../cpix/key-archive';
import { parseDeliveryCertificate } from '../cpix/delivery-certificate';
import { checkResourceId } from '../domain/ids';
import { ALL_TENANTS, checkTenantId, claimingTenant } from '../domain/tenants';
import { BadRequestError, ForbiddenError } from '../errors';
import type { ArchiveCaller, KeyArchiveService } from '../keys/key-archive-service';
import { requireRole } from './authenticate';
import { clientIp } from './client-info';
import { EXACT_ROUTING } from './exact-routing';
import { tenantOf } from './principal-tenant';
import { noStore } from './respond';

/** What the archive routes need: the service and the delivery-certificate allow-list, if any. */
export interface ArchiveDeps {
  service: KeyArchiveService;
  allowedRecipients?: readonly string[];
}

/** The header that carries an export's recipient certificate (base64 DER). */
export const RECIPIENT_HEADER = 'x-keyplane-recipient-certificate';

function caller(req: Request, route: string): ArchiveCaller {
  return { principal: req.principal?.id ?? 'anonymous', tenant: tenantOf(req), route, clientIp: clientIp(req) };
}

function flag(req: Request, name: string): boolean {
  const value = req.query[name];
  if (value === undefined) return false;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new BadRequestError(`${name} must be true or false`);
}

function recipientOf(req: Request, allowed: readonly string[] | undefined): ArchiveRecipient | undefined {
  const header = req.get(RECIPIENT_HEADER);
  const plaintext = flag(req, 'plaintext');
  if (header !== undefined && plaintext)
    throw new BadRequestError(`Give either ${RECIPIENT_HEADER} or plaintext=true, not both`);
  if (plaintext) return undefined;
  if (header === undefined) {
    throw new BadRequestError(
      `${RECIPIENT_HEADER} (the recipient's X.509 certificate, base64 DER) is required; keys leave in the clear only with plaintext=true`,
    );
  }
  const der = Buffer.from(header.trim(), 'base64');
  if (der.length === 0 || der.toString('base64') !== header.trim())
    throw new BadRequestError(`${RECIPIENT_HEADER} is not valid base64`);
  return { der, certificate: parseDeliveryCertificate(der, new Date(), allowed, `the ${RECIPIENT_HEADER} header`) };
}

/** The tenant an import's resources go to: the caller's own; a `*` admin may name one (`default` otherwise). */
function importTenant(req: Request): string {
  const own = tenantOf(req);
  const asked = req.query.tenant;
  if (asked === undefined) return claimingTenant(own);
  const tenant = checkTenantId(asked, 'tenant');
  if (own !== ALL_TENANTS && tenant !== own)
    throw new ForbiddenError(`Your credential imports into tenant "${own}" only`);
  return tenant;
}

/** The export and import routes (see the file comment). */
export function archiveRoutes(deps: ArchiveDeps, maxBodyBytes: number): Router {
  const router = Router(EXACT_ROUTING);
  const admin = requireRole('admin');

  router.get('/exports/:resourceId', admin, noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const recipient = recipientOf(req, deps.allowedRecipients);
    const who = caller(req, 'GET /exports/{resourceId}');
    const archive = await deps.service.exportResource(resourceId, who, recipient?.certificate.sha256);
    res.type('application/xml').send(buildKeyArchive(archive, recipient));
  });

  router.post(
    '/imports',
    admin,
    noStore,
    express.text({ type: () => true, limit: maxBodyBytes, defaultCharset: 'utf-8' }),
    async (req, res) => {
      const dryRun = flag(req, 'dryRun');
      const tenant = importTenant(req);
      const body = typeof req.body === 'string' ? req.body : '';
      if (body.trim() === '') throw new BadRequestError('Request body is empty: send a CPIX document');
      const archive = readKeyArchive(body);
      const result = await deps.service.importArchive(archive, tenant, caller(req, 'POST /imports'), dryRun);
      res.status(result.conflicts.length > 0 ? 409 : 200).json(result);
    },
  );
  return router;
}
