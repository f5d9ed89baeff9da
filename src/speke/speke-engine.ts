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
import { BadRequestError, UnprocessableError } from '../errors';
import type { IssuedKey } from '../keys/key-service';
import { signalDrmSystems } from './drm-signals';
import { periodKeyAliases } from './period-keys';

/** Looks up a DRM system module by systemId. */
export interface DrmLookup {
  get(systemId: string): DrmSystem | undefined;
}

/** What the key service needs from a SPEKE request: which keys, under which resource ID. */
export interface SpekePlan {
  resourceId: string;
  keys: { kid: string; iv?: Buffer; alias?: string }[];
  rotating: boolean;
}

/** One SPEKE request between its reading and its answer. */
export interface SpekeJob {
  plan: SpekePlan;
  /** The response document for these keys; may run more than once (a retry after a lost race). */
  answer(issued: IssuedKey[]): Promise<string>;
  /** Forgets the request (answered or not). */
  done(): void;
}

/**
 * The CPU-bound half of a SPEKE exchange: reading the CPIX document and writing the answer. In the
 * event loop (LocalSpekeEngine) or on worker threads (ThreadedSpekeEngine), so a large document does
 * not hold up other requests; the key service's half (leases, keys, the store) stays in the loop.
 */
export interface SpekeEngine {
  /** Parses and checks a request body; rejects with the KeyplaneError that names what is wrong. */
  begin(body: string, speke: SpekeVersion): Promise<SpekeJob>;
  /** Stops any threads. */
  close?(): Promise<void>;
}

/** What reading a request leaves for its answer. */
export interface ReadRequest {
  request: CpixRequest;
  systems: Map<ReadonlyXmlElement, DrmSystem>;
  certificate?: DeliveryCertificate;
  plan: SpekePlan;
}

/** Reads the CPIX document as the engines do: the systems resolved, v2's scheme rules, the certificate, the plan. */
export function readSpekeRequest(
  body: string,
  speke: SpekeVersion,
  drm: DrmLookup,
  deliveryCertSha256?: string[],
): ReadRequest {
  const request = parseCpix(body, speke);
  const systems = resolveSystems(request, drm);
  if (request.speke !== '1.0') checkDrmSchemes(request, (systemId) => drm.get(systemId)?.schemes);
  const certificate = request.deliveryCertificate
    ? parseDeliveryCertificate(request.deliveryCertificate, new Date(), deliveryCertSha256)
    : undefined;
  const aliases = periodKeyAliases(request);
  const plan: SpekePlan = {
    resourceId: request.resourceId,
    keys: request.contentKeys.map((k) => ({ kid: k.kid, iv: k.explicitIV, alias: aliases.get(k.kid) })),
    rotating: request.periods.length > 0,
  };
  return { request, systems, certificate, plan };
}

/**
 * The answer to a read request: each DRM system signalled, filled v1 or v2 style, the keys encrypted to
 * the delivery certificate when the encoder sent one, serialized. Works on a copy of the request's tree.
 */
export function answerSpekeRequest(
  read: ReadRequest,
  issued: IssuedKey[],
  drm: DrmLookup,
  keyUrl: (resourceId: string, kid: string) => string,
): string {
  const { request, systems, certificate } = read;
  const material = new Map<string, KeyMaterial>(issued.map((k) => [k.kid, { key: k.key, iv: k.iv }]));
  const signals = signalDrmSystems(request, (element) => systems.get(element) as DrmSystem, material, keyUrl);
  const filled =
    request.speke === '1.0'
      ? fillCpixV1(request, material, signals)
      : fillCpixV2(request, material, signals, (systemId) => drm.get(systemId)?.needsIv === true);
  if (certificate) encryptDocument(filled, certificate, request.speke === '2.1' ? '2.4' : '2.3');
  return serializeXml(filled);
}

function resolveSystems(request: CpixRequest, drm: DrmLookup): Map<ReadonlyXmlElement, DrmSystem> {
  const systems = new Map<ReadonlyXmlElement, DrmSystem>();
  for (const entry of request.drmSystems) {
    const system = drm.get(entry.systemId);
    if (!system) {
      const message = `Unsupported DRMSystem@systemId ${entry.systemId} for KID ${entry.kid}`;
      throw request.speke === '1.0' ? new BadRequestError(message) : new UnprocessableError(message);
    }
    systems.set(entry.element, system);
  }
  return systems;
}

/** Reads and answers SPEKE requests in the event loop (tests, the CLI, the Lambda, one-core machines). */
export class LocalSpekeEngine implements SpekeEngine {
  constructor(
    private readonly drm: DrmLookup,
    private readonly keyUrl: (resourceId: string, kid: string) => string,
    private readonly deliveryCertSha256?: string[],
  ) {}

  async begin(body: string, speke: SpekeVersion): Promise<SpekeJob> {
    const read = readSpekeRequest(body, speke, this.drm, this.deliveryCertSha256);
    return {
      plan: read.plan,
      answer: async (issued) => answerSpekeRequest(read, issued, this.drm, this.keyUrl),
      done: () => undefined,
    };
  }
}
