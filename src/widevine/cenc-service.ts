import { SYSTEM_IDS, type DrmSystem } from '../drm/drm-system';
import { mayAct } from '../domain/tenants';
import { KeyplaneError } from '../errors';
import type { IssuedKey, KeyService } from '../keys/key-service';
import type { StoredKey } from '../store/records';
import {
  parseCencRequest,
  readSignedRequest,
  TRACK_TYPES,
  type CencRequest,
  type DrmType,
  type KeyIdRequest,
  type TrackType,
} from './cenc-request';
import { WidevineStatusError } from './cenc-status';
import { deriveKid } from './kid-derivation';
import type { VerifiedSigner, WidevineSigners } from './request-signers';

/** Looks up a DRM system module by systemId (the registry of `drm/registry.ts`). */
interface DrmLookup {
  get(systemId: string): DrmSystem | undefined;
}

/** One key of the answer: which track and crypto period it serves. */
interface TrackKey {
  track: TrackType;
  period?: number;
  kid: string;
}

/** What a served request gives the route: the signer, the resource, the KIDs (for the audit) and the JSON body. */
export interface CencAnswer {
  signer: VerifiedSigner;
  resourceId: string;
  kids: string[];
  body: Record<string, unknown>;
}

const SYSTEM_ID_OF: Readonly<Record<DrmType, string>> = {
  WIDEVINE: SYSTEM_IDS.widevine,
  PLAYREADY: SYSTEM_IDS.playready,
};
/** size, 'pssh', version + flags, SystemID, DataSize: what precedes the data of a version 0 pssh box. */
const PSSH_V0_HEADER = 32;

const b64 = (bytes: Buffer) => bytes.toString('base64');

/** The HTTP body of an answer: `SignedModularDrmResponse` with the JSON response base64-encoded. */
export function envelope(response: Record<string, unknown>): Record<string, unknown> {
  return { response: b64(Buffer.from(JSON.stringify(response), 'utf8')) };
}

/** The HTTP body of a refusal: the status (and what was wrong) in the envelope, and beside it for people. */
export function refusalBody(err: WidevineStatusError): Record<string, unknown> {
  return {
    ...envelope({ status: err.status, status_message: err.message }),
    status: err.status,
    status_message: err.message,
  };
}

/** Turns a KeyService refusal into the API's status; anything else (a bug) is rethrown. */
function asStatus(err: unknown): never {
  if (err instanceof KeyplaneError) {
    if (err.status === 403 || err.status === 409) throw new WidevineStatusError('ACCESS_DENIED', err.message);
    if (err.status === 400 || err.status === 422) throw new WidevineStatusError('MALFORMED_REQUEST', err.message);
    if (err.status === 503) throw new WidevineStatusError('INTERNAL_ERROR', 'The key store is unavailable; retry');
  }
  throw err;
}

/**
 * The Widevine Common Encryption API (what Shaka Packager's `--enable_widevine_encryption` calls): verifies the
 * signer, derives the KIDs of the asked tracks and crypto periods, issues their keys through the KeyService
 * (bound to the resource, sealed, durable before the answer, owned by the signer's tenant; lease-free, since
 * derived KIDs give every packager of the content the same keys) and answers keys + PSSH per DRM type.
 */
export class WidevineCencService {
  constructor(
    private readonly keys: KeyService,
    private readonly drm: DrmLookup,
    private readonly signers: WidevineSigners,
    private readonly kidSecret: Buffer,
  ) {}

  /** Checks the envelope's signature; SIGNATURE_FAILED when unsigned, unknown signer or wrong signature. */
  authenticate(body: string): { signer: VerifiedSigner; message: Buffer } {
    const signed = readSignedRequest(body);
    const signer = this.signers.verify(signed.message, signed.signer, signed.signature);
    if (!signer)
      throw new WidevineStatusError('SIGNATURE_FAILED', 'The request is unsigned or its signature does not verify');
    return { signer, message: signed.message };
  }

  /** Issues (or re-reads) the keys of a verified request and builds the answer. */
  async issue(signer: VerifiedSigner, message: Buffer): Promise<CencAnswer> {
    const request = parseCencRequest(message);
    if (request.kind === 'key-ids') return this.lookup(signer, request);
    const wanted = this.trackKeys(request);
    const issue = {
      resourceId: request.resourceId,
      owner: `widevine:${signer.name}`,
      tenant: signer.tenant,
      keys: wanted.map((w) => ({ kid: w.kid })),
      rotating: request.periods !== undefined,
      leaseFree: true,
    };
    const body = await this.keys
      .issueWith(issue, (issued) => envelope(this.respond(request, wanted, issued)))
      .catch(asStatus);
    return { signer, resourceId: request.resourceId, kids: wanted.map((w) => w.kid), body };
  }

  /**
   * A decrypting packager's request by `pssh_data`: the existing keys of the KIDs it names, all of one resource of
   * the signer's tenant. Unknown KIDs, another tenant's, a static-key resource or a mix of resources get the same
   * ACCESS_DENIED, so the answer says nothing about which KIDs exist. Reads only: nothing is issued.
   */
  private async lookup(signer: VerifiedSigner, request: KeyIdRequest): Promise<CencAnswer> {
    const denied = new WidevineStatusError(
      'ACCESS_DENIED',
      'pssh_data names a key that does not exist or that this signer may not have',
    );
    const stored = await this.keys.findByKids(request.kids).catch(asStatus);
    const resources = new Set([...stored.values()].map((k) => k.resourceId));
    const [resourceId] = resources;
    if (stored.size !== request.kids.length || resources.size !== 1 || resourceId === undefined) throw denied;
    if (request.resourceId !== undefined && request.resourceId !== resourceId) throw denied;
    const owner = await this.keys.ownerOf(resourceId).catch(asStatus);
    if (!owner || owner.kind === 'static' || !mayAct(signer.tenant, owner.tenant)) throw denied;
    const opened = await Promise.all(request.kids.map((kid) => this.keys.open(stored.get(kid) as StoredKey))).catch(
      asStatus,
    );
    const content = { resourceId, contentId: Buffer.from(resourceId, 'utf8'), drmTypes: request.drmTypes };
    const tracks = opened.map((key, i) => ({
      type: TRACK_TYPES.find((track) => deriveKid(this.kidSecret, { resourceId, track }) === key.kid) ?? `KEY${i + 1}`,
      key_id: b64(Buffer.from(key.kid.replace(/-/g, ''), 'hex')),
      key: b64(key.key),
      pssh: request.drmTypes.map((type) => this.pssh(type, content, key)),
    }));
    const body = envelope({ status: 'OK', tracks, content_id: b64(content.contentId) });
    return { signer, resourceId, kids: request.kids, body };
  }

  private trackKeys(request: CencRequest): TrackKey[] {
    const periods = request.periods
      ? Array.from({ length: request.periods.count }, (_, i) => (request.periods?.first ?? 0) + i)
      : [undefined];
    return periods.flatMap((period) =>
      request.tracks.map((track) => ({
        track,
        ...(period === undefined ? {} : { period }),
        kid: deriveKid(this.kidSecret, {
          resourceId: request.resourceId,
          track,
          period,
          videoFeature: request.videoFeature,
        }),
      })),
    );
  }

  private respond(request: CencRequest, wanted: TrackKey[], issued: IssuedKey[]): Record<string, unknown> {
    const tracks = wanted.map((w, i) => {
      const key = issued[i] as IssuedKey;
      return {
        type: w.track,
        key_id: b64(Buffer.from(w.kid.replace(/-/g, ''), 'hex')),
        key: b64(key.key),
        pssh: request.drmTypes.map((type) => this.pssh(type, request, key)),
        ...(w.period === undefined ? {} : { crypto_period_index: w.period }),
      };
    });
    return {
      status: 'OK',
      drm: request.drmTypes.map((type) => ({ type, system_id: SYSTEM_ID_OF[type].replace(/-/g, '') })),
      tracks,
      content_id: b64(request.contentId),
    };
  }

  /** One `Track.Pssh`: the system's box (as SPEKE signals it) and its data alone. */
  private pssh(
    type: DrmType,
    request: Pick<CencRequest, 'resourceId' | 'scheme'>,
    key: IssuedKey,
  ): Record<string, unknown> {
    const system = this.drm.get(SYSTEM_ID_OF[type]) as DrmSystem;
    const { pssh } = system.signal({
      spekeVersion: 'v1',
      resourceId: request.resourceId,
      kid: key.kid,
      key: key.key,
      iv: key.iv,
      scheme: request.scheme,
      keyUrl: '',
    });
    const box = pssh as Buffer;
    return { drm_type: type, data: b64(box.subarray(PSSH_V0_HEADER)), boxes: b64(box) };
  }
}
