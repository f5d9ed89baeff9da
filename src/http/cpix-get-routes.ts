/**
 * `GET /cpix/{resourceId}`: a resource's existing keys as a CPIX 2.3 document, for packagers and origins
 * that read CPIX from a URL. Who may: the encoder or admin role of the tenant that owns the resource
 * (the `*` admin: any). Keys leave encrypted to the delivery certificate the caller sends in
 * `X-Cpix-Delivery-Certificate` (base64 DER, vetted like a SPEKE request's); plaintext keys need the
 * explicit `plaintext=true`, so a stray URL in a browser or a log never returns clear keys by default.
 * Every success is audited as a key delivery (one record per KID).
 */
import { Router, type Request } from 'express';
import { checkOwner } from '../auth/resource-scope';
import { checkResourceId, UUID_PATTERN } from '../domain/ids';
import { SYSTEM_IDS, type EncryptionScheme } from '../drm/drm-system';
import { BadRequestError, KeyplaneError, NotFoundError } from '../errors';
import type { ResourceOwner } from '../store/ownership';
import type { CpixExportService } from '../speke/cpix-export';
import { requireRole } from './authenticate';
import { EXACT_ROUTING } from './exact-routing';
import { tenantOf } from './principal-tenant';
import { auditDelivered } from './request-audit';
import { noStore } from './respond';

/** KIDs one document may carry; more is a 400 telling the caller to split the request. */
export const MAX_CPIX_KIDS = 100;

/** Base64 characters of the certificate header: 8 KiB holds any RSA-2048/4096 certificate (Node caps all headers at 16 KiB). */
const MAX_CERTIFICATE_CHARS = 8 * 1024;

/** The header a caller sends its delivery certificate in. */
export const CERTIFICATE_HEADER = 'X-Cpix-Delivery-Certificate';

/** Short names accepted by `drm=` (a system ID is accepted too). */
const DRM_BY_NAME: Readonly<Record<string, string>> = {
  'hls-aes128': SYSTEM_IDS.hlsAes128,
  fairplay: SYSTEM_IDS.fairplay,
  widevine: SYSTEM_IDS.widevine,
  playready: SYSTEM_IDS.playready,
  clearkey: SYSTEM_IDS.clearkey,
  'common-pssh': SYSTEM_IDS.commonPssh,
};

const SCHEMES: readonly EncryptionScheme[] = ['cenc', 'cbc1', 'cens', 'cbcs'];

/** The allowed query parameters, so a typo (`kids=`) is a 400 rather than a silently different answer. */
const PARAMS = new Set(['kid', 'drm', 'scheme', 'plaintext']);

function queryOf(req: Request): URLSearchParams {
  const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const params = new URLSearchParams(raw);
  for (const name of params.keys()) {
    if (!PARAMS.has(name))
      throw new BadRequestError(`Unknown query parameter "${name.slice(0, 32)}": use kid, drm, scheme, plaintext`);
  }
  return params;
}

/** The KIDs named by `kid=`; undefined when none is named (then every key of the resource). */
function kidsOf(params: URLSearchParams): string[] | undefined {
  const values = params.getAll('kid').flatMap((v) => v.split(','));
  if (values.length === 0) return undefined;
  if (values.length > MAX_CPIX_KIDS) {
    throw new BadRequestError(`At most ${MAX_CPIX_KIDS} KIDs per document; split the request`);
  }
  for (const kid of values) {
    if (!UUID_PATTERN.test(kid)) throw new BadRequestError(`kid "${kid.slice(0, 64)}" is not a UUID`);
  }
  return [...new Set(values.map((k) => k.toLowerCase()))];
}

function systemsOf(params: URLSearchParams): string[] {
  const values = params.getAll('drm').flatMap((v) => v.split(','));
  if (values.length > Object.keys(DRM_BY_NAME).length + 1) throw new BadRequestError('Too many drm= values');
  const ids = values.map((v) => {
    const id = Object.hasOwn(DRM_BY_NAME, v) ? DRM_BY_NAME[v] : UUID_PATTERN.test(v) ? v.toLowerCase() : undefined;
    if (!id) {
      throw new BadRequestError(
        `drm "${v.slice(0, 64)}" is not one of ${Object.keys(DRM_BY_NAME).join(', ')} or a system ID`,
      );
    }
    return id;
  });
  return [...new Set(ids)];
}

function schemeOf(params: URLSearchParams): EncryptionScheme {
  const value = params.get('scheme') ?? 'cenc';
  if (!(SCHEMES as readonly string[]).includes(value)) {
    throw new BadRequestError(`scheme "${value.slice(0, 16)}" is not one of ${SCHEMES.join(', ')}`);
  }
  return value as EncryptionScheme;
}

/** The certificate header's DER, or undefined; malformed base64 or an oversized header is a 400. */
function certificateOf(req: Request): Buffer | undefined {
  const raw = req.get(CERTIFICATE_HEADER);
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (value.length > MAX_CERTIFICATE_CHARS) {
    throw new BadRequestError(`${CERTIFICATE_HEADER} is over ${MAX_CERTIFICATE_CHARS} characters`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new BadRequestError(`${CERTIFICATE_HEADER} must be the base64 of a DER X.509 certificate`);
  }
  return Buffer.from(value, 'base64');
}

/**
 * The certificate the keys are encrypted to: the caller's, else the operator's; undefined only when the caller
 * opted into clear keys with `plaintext=true` and no certificate is configured. Anything contradictory is a 400.
 */
function recipientOf(params: URLSearchParams, given: Buffer | undefined, configured: Buffer | undefined) {
  const value = params.get('plaintext');
  if (value !== null && value !== 'true' && value !== 'false')
    throw new BadRequestError('plaintext must be true or false');
  const plaintext = value === 'true';
  if (plaintext && given) {
    throw new BadRequestError(`plaintext=true and ${CERTIFICATE_HEADER} contradict each other: send one`);
  }
  if (plaintext && configured) {
    throw new BadRequestError(
      'This server sends CPIX by GET encrypted to its configured certificate: drop plaintext=true',
    );
  }
  if (given ?? configured ?? plaintext) return given ?? configured;
  throw new BadRequestError(
    `Keys leave encrypted: send your delivery certificate (base64 DER) in ${CERTIFICATE_HEADER}, ` +
      'or add plaintext=true to take them in the clear (audited)',
  );
}

/** A static-key resource (403): its key goes to admins through `GET /static-keys/{resourceId}` only. */
class StaticCpixError extends KeyplaneError {
  constructor(resourceId: string) {
    super(
      403,
      'static_resource',
      `resource ID ${resourceId} is a static-key resource; its key is read with GET /static-keys/{resourceId} (admin)`,
    );
  }
}

/** What the route reads: the export service, resource owners, and (where indexed) a resource's KIDs. */
export interface CpixGetDeps {
  cpixExport: CpixExportService;
  owners: { get(resourceId: string): Promise<ResourceOwner | undefined> };
  /** The store's keys by resource (`Backend.transfer`); absent, or scanning the whole store: `kid=` is required. */
  keys?: { readonly keysOfScansAll?: boolean; keysOf(resourceId: string, limit: number): Promise<{ kid: string }[]> };
}

/**
 * Every KID of the resource, when no `kid=` names them: at most MAX_CPIX_KIDS (more is a 400 asking for
 * `kid=`), and only where the store reads them by resource (on DynamoDB it would be a table scan per GET).
 */
async function everyKid(deps: CpixGetDeps, resourceId: string): Promise<string[]> {
  if (!deps.keys || deps.keys.keysOfScansAll) {
    throw new BadRequestError(
      "Name the keys with kid=<uuid> (repeat it, or comma-separate): this store cannot list a resource's keys",
    );
  }
  const kids = (await deps.keys.keysOf(resourceId, MAX_CPIX_KIDS + 1)).map((k) => k.kid);
  if (kids.length > MAX_CPIX_KIDS) {
    throw new BadRequestError(`Resource has more than ${MAX_CPIX_KIDS} keys: name them with kid=<uuid>`);
  }
  if (kids.length === 0) throw new NotFoundError(`No keys for resource "${resourceId}"`);
  return kids;
}

/** The route; built lazily on first use. */
export function cpixGetRoutes(deps: CpixGetDeps): Router {
  const router = Router(EXACT_ROUTING);
  router.get('/cpix/:resourceId', requireRole('encoder', 'admin'), noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const params = queryOf(req);
    const named = kidsOf(params);
    const systemIds = systemsOf(params);
    const scheme = schemeOf(params);
    const certificate = recipientOf(params, certificateOf(req), deps.cpixExport.configuredCertificate);
    const owner = await deps.owners.get(resourceId);
    checkOwner(resourceId, owner, tenantOf(req));
    if (!owner) throw new NotFoundError(`No keys for resource "${resourceId}"`);
    if (owner.kind === 'static') throw new StaticCpixError(resourceId);
    const all = named ?? (await everyKid(deps, resourceId));
    const doc = await deps.cpixExport.export({
      resourceId,
      kids: all,
      systemIds,
      scheme,
      deliveryCertificate: certificate,
    });
    await auditDelivered(req, resourceId, doc.kids, owner.tenant);
    res.set('X-Cpix-Encrypted', doc.encrypted ? 'true' : 'false');
    res.type('application/xml').send(doc.xml);
  });
  return router;
}
