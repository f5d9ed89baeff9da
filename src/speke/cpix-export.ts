/**
 * CPIX by GET: a resource's existing keys as a CPIX 2.3 document, for packagers and origins that read
 * CPIX from a URL (Shaka Packager's CPIX mode, Unified Origin). Nothing is issued and no lease is
 * taken: only keys that SPEKE (or the Widevine API) already created for the resource are read. The
 * document is built like a SPEKE v2.0 answer: a request tree is made from the query, then filled by
 * `fillCpixV2` and, when a delivery certificate is given, sealed by `encryptDocument`.
 */
import { parseDeliveryCertificate } from '../cpix/delivery-certificate';
import { encryptDocument } from '../cpix/encrypt-document';
import type { KeyMaterial } from '../cpix/fill-cpix';
import { fillCpixV2 } from '../cpix/fill-cpix-v2';
import { NS } from '../cpix/namespaces';
import { readRequest } from '../cpix/read-request';
import { parseXml } from '../cpix/xml-parse';
import { serializeXml } from '../cpix/xml-serialize';
import type { DrmSystem, EncryptionScheme } from '../drm/drm-system';
import { signalDrmSystems } from './drm-signals';
import { NotFoundError, UnprocessableError } from '../errors';
import type { IssuedKey, KeyService } from '../keys/key-service';

/** Looks up a DRM system module by systemId. */
interface DrmLookup {
  get(systemId: string): DrmSystem | undefined;
}

/** What one `GET /cpix/{resourceId}` asks for, already checked for form by the route. */
export interface CpixExportQuery {
  resourceId: string;
  /** Lower-case UUIDs, distinct, at least one. */
  kids: readonly string[];
  /** Lower-case system IDs, distinct (may be empty: keys only). */
  systemIds: readonly string[];
  scheme: EncryptionScheme;
  /** DER of the recipient's delivery certificate; absent only when the caller opted into plaintext. */
  deliveryCertificate?: Buffer;
}

/** The keys a document carries, for the audit trail. */
export interface CpixExport {
  xml: string;
  kids: readonly string[];
  encrypted: boolean;
}

/** The request tree an export is filled from: one ContentKey per KID, one DRMSystem per KID and system. */
function requestXml(q: CpixExportQuery): string {
  const keys = q.kids.map((kid) => `<cpix:ContentKey kid="${kid}" commonEncryptionScheme="${q.scheme}"/>`).join('');
  const drm = q.kids
    .flatMap((kid) => q.systemIds.map((systemId) => `<cpix:DRMSystem kid="${kid}" systemId="${systemId}"/>`))
    .join('');
  const delivery = q.deliveryCertificate
    ? `<cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey><ds:X509Data><ds:X509Certificate>${q.deliveryCertificate.toString('base64')}</ds:X509Certificate></ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList>`
    : '';
  return (
    `<cpix:CPIX xmlns:cpix="${NS.cpix}" xmlns:pskc="${NS.pskc}" xmlns:ds="${NS.ds}" contentId="${q.resourceId}" version="2.3">` +
    `${delivery}<cpix:ContentKeyList>${keys}</cpix:ContentKeyList>` +
    (drm === '' ? '' : `<cpix:DRMSystemList>${drm}</cpix:DRMSystemList>`) +
    `</cpix:CPIX>`
  );
}

/**
 * Builds CPIX documents of existing keys. The caller (the route) has already checked the caller's
 * tenant owns the resource; a KID unknown or bound to another resource is a 404 naming the KID only.
 */
export class CpixExportService {
  constructor(
    private readonly keys: KeyService,
    private readonly drm: DrmLookup,
    private readonly keyUrl: (resourceId: string, kid: string) => string,
    private readonly deliveryCertSha256?: string[],
    /** DER of the operator's certificate (`KEYPLANE_CPIX_DELIVERY_CERTIFICATE`): used when the caller sends none. */
    readonly configuredCertificate?: Buffer,
  ) {}

  /** Reads the keys and returns the (encrypted when a certificate is given) CPIX 2.3 document. */
  async export(q: CpixExportQuery): Promise<CpixExport> {
    const systems = q.systemIds.map((id) => {
      const system = this.drm.get(id);
      if (!system) throw new UnprocessableError(`Unsupported DRM system ${id}`);
      if (system.schemes && !system.schemes.includes(q.scheme)) {
        throw new UnprocessableError(
          `${system.name} needs scheme=${system.schemes.join(' or scheme=')}, not ${q.scheme}`,
        );
      }
      return system;
    });
    const certificate = q.deliveryCertificate
      ? parseDeliveryCertificate(
          q.deliveryCertificate,
          new Date(),
          this.deliveryCertSha256,
          'the X-Cpix-Delivery-Certificate header',
        )
      : undefined;
    const request = readRequest(parseXml(requestXml(q)), '2.0');
    const issued = await this.read(q.resourceId, q.kids);
    const material = new Map<string, KeyMaterial>(issued.map((k) => [k.kid, { key: k.key, iv: k.iv }]));
    const bySystemId = new Map(systems.flatMap((s) => s.systemIds.map((id) => [id.toLowerCase(), s] as const)));
    const signals = signalDrmSystems(
      request,
      (_, systemId) => bySystemId.get(systemId) as DrmSystem,
      material,
      this.keyUrl,
    );
    const filled = fillCpixV2(request, material, signals, (systemId) => this.drm.get(systemId)?.needsIv === true);
    if (certificate) encryptDocument(filled, certificate, '2.3');
    return { xml: serializeXml(filled), kids: q.kids, encrypted: certificate !== undefined };
  }

  /** The stored keys of the KIDs, all of this resource: the first that is not is a 404. */
  private async read(resourceId: string, kids: readonly string[]): Promise<IssuedKey[]> {
    const stored = await this.keys.findByKids([...kids]);
    for (const kid of kids) {
      const key = stored.get(kid);
      if (!key || key.resourceId !== resourceId) {
        throw new NotFoundError(`No key for resource "${resourceId}" and KID ${kid}`);
      }
    }
    return Promise.all(
      kids.map((kid) => this.keys.open(stored.get(kid) as NonNullable<ReturnType<typeof stored.get>>)),
    );
  }
}
