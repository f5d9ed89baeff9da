/**
 * The Widevine Common Encryption API request as Shaka Packager 3.x sends it (`widevine_key_source.cc`,
 * `widevine_common_encryption.proto`, protobuf JSON with proto field names): an outer
 * `SignedModularDrmRequest` `{request, signature, signer}` whose `request` is base64 of the JSON
 * `CommonEncryptionRequest` `{content_id, policy, tracks:[{type}], drm_types, first_crypto_period_index,
 * crypto_period_count, crypto_period_seconds, protection_scheme, ...}`. Unknown fields are ignored, as the
 * packager's own parser does.
 */
import type { EncryptionScheme } from '../drm/drm-system';
import { RESOURCE_ID_PATTERN } from '../domain/ids';
import { WidevineStatusError } from './cenc-status';
import { readWidevinePsshData } from './pssh-data';
import { bytesToUuid } from '../drm/pssh';

/** Track types the API knows, in the order Shaka Packager asks for them. */
export const TRACK_TYPES = ['SD', 'HD', 'UHD1', 'UHD2', 'AUDIO'] as const;
/** One track type. */
export type TrackType = (typeof TRACK_TYPES)[number];

/** DRM systems whose PSSH the API returns (`ModularDrmType`; Keyplane adds PLAYREADY = 1 as Widevine's service does). */
export const DRM_TYPES = ['WIDEVINE', 'PLAYREADY'] as const;
/** One DRM type. */
export type DrmType = (typeof DRM_TYPES)[number];

/** The most keys (tracks × crypto periods) one request may ask for: Shaka asks for 5 × 10. */
export const MAX_KEYS_PER_REQUEST = 60;
const MAX_VIDEO_FEATURE = 64;

/** The outer envelope, decoded: the exact bytes that were signed, and who claims to have signed them. */
export interface SignedRequest {
  message: Buffer;
  signer?: string;
  signature?: Buffer;
}

/**
 * A request by `pssh_data` (what `--enable_widevine_decryption` sends): the keys of the KIDs its
 * WidevinePsshData names, which must exist and belong to one resource (its content ID, when it names one).
 */
export interface KeyIdRequest {
  kind: 'key-ids';
  kids: string[];
  resourceId?: string;
  drmTypes: DrmType[];
}

/** A validated key request by content ID (what `--enable_widevine_encryption` sends). */
export interface CencRequest {
  kind: 'content';
  /** `content_id` bytes read as UTF-8: Keyplane's resource ID. */
  resourceId: string;
  contentId: Buffer;
  tracks: TrackType[];
  drmTypes: DrmType[];
  /** Crypto period indexes asked for (key rotation), or undefined for one key per track. */
  periods?: { first: number; count: number };
  scheme?: EncryptionScheme;
  /** `video_feature` (e.g. HDR): part of the video keys' identity. */
  videoFeature?: string;
}

const SCHEMES: Readonly<Record<string, EncryptionScheme | undefined>> = {
  UNSPECIFIED: undefined,
  CENC: 'cenc',
  CBC1: 'cbc1',
  CENS: 'cens',
  CBCS: 'cbcs',
  '0': undefined,
  '1667591779': 'cenc',
  '1667392305': 'cbc1',
  '1667591795': 'cens',
  '1667392371': 'cbcs',
};

const malformed = (message: string) => new WidevineStatusError('MALFORMED_REQUEST', message);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(`${what} is not JSON`);
  }
  if (!isObject(value)) throw malformed(`${what} is not a JSON object`);
  return value;
}

/** A protobuf JSON `bytes` field: standard or URL-safe base64, strictly. */
function bytesField(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) {
    throw malformed(`${field} must be a base64 string`);
  }
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** A protobuf JSON `uint32`: a number or a decimal string. */
function uint32Field(value: unknown, field: string): number {
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw malformed(`${field} must be an unsigned 32-bit integer`);
  }
  return n;
}

/** Reads the outer `SignedModularDrmRequest`. */
export function readSignedRequest(body: string): SignedRequest {
  const outer = parseJsonObject(body, 'The request body');
  if (outer.request === undefined) throw malformed('request is missing');
  const message = bytesField(outer.request, 'request');
  const signature = outer.signature === undefined ? undefined : bytesField(outer.signature, 'signature');
  const signer = typeof outer.signer === 'string' ? outer.signer : undefined;
  return { message, ...(signer === undefined ? {} : { signer }), ...(signature ? { signature } : {}) };
}

/** Bytes read as UTF-8 text that must be a Keyplane resource ID. */
function resourceIdOf(bytes: Buffer, field: string): string {
  let resourceId: string;
  try {
    resourceId = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw malformed(`${field} is not UTF-8 text: its bytes read as UTF-8 are the resource ID`);
  }
  if (!RESOURCE_ID_PATTERN.test(resourceId)) {
    throw malformed(`${field} must be a Keyplane resource ID in UTF-8 (letters, digits, ._~:@+=-; at most 256)`);
  }
  return resourceId;
}

function contentIdOf(inner: Record<string, unknown>): { contentId: Buffer; resourceId: string } {
  if (inner.content_id === undefined) {
    const other = inner.asset_id !== undefined;
    throw new WidevineStatusError(
      'CONTENT_ID_MISSING',
      other
        ? 'content_id is missing: requests by asset_id (Widevine classic) are not supported'
        : 'content_id is missing',
    );
  }
  const contentId = bytesField(inner.content_id, 'content_id');
  return { contentId, resourceId: resourceIdOf(contentId, 'content_id') };
}

/** A request by `pssh_data` (decryption). */
function keyIdRequest(inner: Record<string, unknown>): KeyIdRequest {
  const data = readWidevinePsshData(bytesField(inner.pssh_data, 'pssh_data'));
  const resourceId = data.contentId ? resourceIdOf(data.contentId, 'the content_id of pssh_data') : undefined;
  return {
    kind: 'key-ids',
    kids: [...new Set(data.keyIds.map((k) => bytesToUuid(k)))],
    ...(resourceId ? { resourceId } : {}),
    drmTypes: drmTypesOf(inner.drm_types),
  };
}

function tracksOf(value: unknown): TrackType[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new WidevineStatusError('TRACK_TYPE_MISSING', 'tracks is empty');
  if (value.length > TRACK_TYPES.length) throw malformed(`tracks lists more than ${TRACK_TYPES.length} tracks`);
  const types = value.map((t: unknown) => (isObject(t) ? t.type : undefined));
  for (const type of types) {
    if (!(TRACK_TYPES as readonly unknown[]).includes(type)) {
      throw new WidevineStatusError(
        'TRACK_TYPE_UNKNOWN',
        `Unknown track type ${JSON.stringify(type)}: use ${TRACK_TYPES.join(', ')}`,
      );
    }
  }
  if (new Set(types).size !== types.length) throw malformed('tracks lists a type twice');
  return types as TrackType[];
}

function drmTypesOf(value: unknown): DrmType[] {
  if (value === undefined) return ['WIDEVINE'];
  if (!Array.isArray(value) || value.length > DRM_TYPES.length * 2) throw malformed('drm_types must be a short list');
  const types = value.map((t: unknown) => (typeof t === 'number' ? DRM_TYPES[t] : t));
  for (const type of types) {
    if (!(DRM_TYPES as readonly unknown[]).includes(type)) {
      throw malformed(`Unsupported drm_types entry ${JSON.stringify(type)}: use ${DRM_TYPES.join(', ')}`);
    }
  }
  const unique = [...new Set(types as DrmType[])];
  return unique.length === 0 ? ['WIDEVINE'] : unique;
}

function periodsOf(inner: Record<string, unknown>, tracks: number): CencRequest['periods'] {
  if (inner.first_crypto_period_index === undefined && inner.crypto_period_count === undefined) return undefined;
  const first =
    inner.first_crypto_period_index === undefined
      ? 0
      : uint32Field(inner.first_crypto_period_index, 'first_crypto_period_index');
  const count =
    inner.crypto_period_count === undefined ? 1 : uint32Field(inner.crypto_period_count, 'crypto_period_count');
  if (count === 0) throw new WidevineStatusError('NO_REQUESTED_CRYPTO_PERIODS', 'crypto_period_count is 0');
  if (count * tracks > MAX_KEYS_PER_REQUEST) {
    throw malformed(
      `tracks × crypto_period_count is ${count * tracks}; at most ${MAX_KEYS_PER_REQUEST} keys per request`,
    );
  }
  if (first + count - 1 > 0xffffffff)
    throw malformed('first_crypto_period_index + crypto_period_count overflows uint32');
  return { first, count };
}

function schemeOf(value: unknown): EncryptionScheme | undefined {
  if (value === undefined) return undefined;
  const key = String(value);
  if (!Object.hasOwn(SCHEMES, key)) throw malformed(`Unknown protection_scheme ${JSON.stringify(value)}`);
  return SCHEMES[key];
}

function videoFeatureOf(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > MAX_VIDEO_FEATURE || !/^[\x21-\x7e]+$/.test(value)) {
    throw malformed(`video_feature must be printable ASCII, at most ${MAX_VIDEO_FEATURE} characters`);
  }
  return value;
}

/** Validates the signed inner `CommonEncryptionRequest` (the caller verified its signature first). */
export function parseCencRequest(message: Buffer): CencRequest | KeyIdRequest {
  const inner = parseJsonObject(message.toString('utf8'), 'request');
  if (inner.content_id === undefined && inner.pssh_data !== undefined) return keyIdRequest(inner);
  const { contentId, resourceId } = contentIdOf(inner);
  const tracks = tracksOf(inner.tracks);
  const periods = periodsOf(inner, tracks.length);
  const scheme = schemeOf(inner.protection_scheme);
  const videoFeature = videoFeatureOf(inner.video_feature);
  return {
    kind: 'content',
    resourceId,
    contentId,
    tracks,
    drmTypes: drmTypesOf(inner.drm_types),
    ...(periods ? { periods } : {}),
    ...(scheme ? { scheme } : {}),
    ...(videoFeature ? { videoFeature } : {}),
  };
}
