import type { CpixRequest, SpekeVersion } from '../cpix/cpix-model';
import { parseDeliveryCertificate, type DeliveryCertificate } from '../cpix/delivery-certificate';
import { encryptDocument } from '../cpix/encrypt-document';
import { fillCpixV1, type KeyMaterial } from '../cpix/fill-cpix';
import { fillCpixV2 } from '../cpix/fill-cpix-v2';
import { parseCpix } from '../cpix/parse-cpix';
import { checkDrmSchemes } from '../cpix/v2/validate-v2';
import { serializeXml } from '../cpix/xml-serialize';
import type { ReadonlyXmlElement } from '../cpix/xml-tree';
import type { DrmSystem } from '../drm/drm-system';
import { signalDrmSystems } from './drm-signals';
import { BadRequestError, UnprocessableError } from '../errors';
import type { IssuedKey, KeyService } from '../keys/key-service';
import { periodKeyAliases } from './period-keys';

/** Looks up a DRM system module by systemId. */
interface DrmLookup {
  get(systemId: string): DrmSystem | undefined;
}

/** The SPEKE exchange of one request: who asks, what they sent. */
interface SpekeCall {
  body: string;
  speke: SpekeVersion;
  owner: string;
  /** The caller's tenant (see IssueRequest.tenant). */
  tenant: string;
  /** Called once the keys are committed and the response is built (the audit trail of issuance). */
  onIssued?: (resourceId: string, kids: string[]) => Promise<void>;
}

/**
 * Orchestrates a SPEKE exchange: parse the CPIX document, check every DRM system is known (and, in v2,
 * supports the key's scheme), issue (or re-read) the keys under the lease rule, signal each DRM system,
 * fill (v1 or v2 style), encrypt the keys to the delivery certificate when the encoder sent one, and serialize.
 */
export class SpekeService {
  constructor(
    private readonly keys: KeyService,
    private readonly drm: DrmLookup,
    private readonly keyUrl: (resourceId: string, kid: string) => string,
    private readonly deliveryCertSha256?: string[],
  ) {}

  /** Handles one SPEKE request body and returns the response document. */
  async handle(call: SpekeCall): Promise<string> {
    const request = parseCpix(call.body, call.speke);
    const systems = this.resolveSystems(request);
    if (request.speke !== '1.0') checkDrmSchemes(request, (systemId) => this.drm.get(systemId)?.schemes);
    const certificate = request.deliveryCertificate
      ? parseDeliveryCertificate(request.deliveryCertificate, new Date(), this.deliveryCertSha256)
      : undefined;
    const aliases = periodKeyAliases(request);
    const issue = {
      resourceId: request.resourceId,
      owner: call.owner,
      tenant: call.tenant,
      keys: request.contentKeys.map((k) => ({ kid: k.kid, iv: k.explicitIV, alias: aliases.get(k.kid) })),
      rotating: request.periods.length > 0,
    };
    // The response is built before the keys are committed, so a failure while building changes nothing.
    // Building works on a copy of the parsed (immutable) request, so a retry after a lost race reuses it.
    const xml = await this.keys.issueWith(issue, (issued) => this.respond(request, systems, issued, certificate));
    await call.onIssued?.(
      issue.resourceId,
      issue.keys.map((k) => k.kid),
    );
    return xml;
  }

  private respond(
    request: CpixRequest,
    systems: Map<ReadonlyXmlElement, DrmSystem>,
    issued: IssuedKey[],
    certificate?: DeliveryCertificate,
  ): string {
    const material = new Map<string, KeyMaterial>(issued.map((k) => [k.kid, { key: k.key, iv: k.iv }]));
    const signals = signalDrmSystems(request, (element) => systems.get(element) as DrmSystem, material, this.keyUrl);
    const filled =
      request.speke === '1.0'
        ? fillCpixV1(request, material, signals)
        : fillCpixV2(request, material, signals, (systemId) => this.drm.get(systemId)?.needsIv === true);
    if (certificate) encryptDocument(filled, certificate);
    return serializeXml(filled);
  }

  private resolveSystems(request: CpixRequest): Map<ReadonlyXmlElement, DrmSystem> {
    const systems = new Map<ReadonlyXmlElement, DrmSystem>();
    for (const entry of request.drmSystems) {
      const system = this.drm.get(entry.systemId);
      if (!system) {
        const message = `Unsupported DRMSystem@systemId ${entry.systemId} for KID ${entry.kid}`;
        throw request.speke === '1.0' ? new BadRequestError(message) : new UnprocessableError(message);
      }
      systems.set(entry.element, system);
    }
    return systems;
  }
}
