/**
 * Widevine: a version 0 pssh whose data is a protobuf `WidevinePsshData`
 * (key_id = 2, provider = 3, content_id = 4, protection_scheme = 9).
 */
import type { DrmContext, DrmSettings, DrmSignalling, DrmSystem, EncryptionScheme } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { buildPssh, uuidToBytes } from './pssh';
import { cencPsshElement, hlsKeyLines, sampleAesMethod } from './signalling-text';

/** Fields of `WidevinePsshData` that Keyplane writes. */
interface WidevinePsshDataFields {
  keyIds: readonly Buffer[];
  provider?: string;
  contentId?: Buffer;
  protectionScheme?: EncryptionScheme;
}

const FIELD_KEY_ID = 2;
const FIELD_PROVIDER = 3;
const FIELD_CONTENT_ID = 4;
const FIELD_PROTECTION_SCHEME = 9;
const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const MAX_UINT32 = 0xffffffff;

/** Protobuf base-128 varint of a uint32 (arithmetic, so values above 2^31 stay unsigned). */
export function encodeVarint(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) throw new RangeError(`Not a uint32: ${value}`);
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A protobuf field key: field number and wire type. */
function fieldKey(field: number, wireType: number): Buffer {
  return encodeVarint(field * 8 + wireType);
}

/** A length-delimited protobuf field (bytes or string). */
function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([fieldKey(field, WIRE_LENGTH_DELIMITED), encodeVarint(value.length), value]);
}

/** A varint protobuf field. */
function varintField(field: number, value: number): Buffer {
  return Buffer.concat([fieldKey(field, WIRE_VARINT), encodeVarint(value)]);
}

/** The FourCC of a scheme as a big-endian uint32 ('cenc' = 0x63656E63), as `protection_scheme` wants. */
export function fourCc(scheme: string): number {
  if (!/^[\x20-\x7e]{4}$/.test(scheme)) throw new RangeError(`Not a FourCC: ${JSON.stringify(scheme)}`);
  return Buffer.from(scheme, 'latin1').readUInt32BE(0);
}

/** Serialises `WidevinePsshData` in field-number order; empty optional fields are left out. */
export function encodeWidevinePsshData(fields: WidevinePsshDataFields): Buffer {
  const parts = fields.keyIds.map((kid) => lengthDelimited(FIELD_KEY_ID, kid));
  if (fields.provider) parts.push(lengthDelimited(FIELD_PROVIDER, Buffer.from(fields.provider, 'utf8')));
  if (fields.contentId && fields.contentId.length > 0) parts.push(lengthDelimited(FIELD_CONTENT_ID, fields.contentId));
  if (fields.protectionScheme) parts.push(varintField(FIELD_PROTECTION_SCHEME, fourCc(fields.protectionScheme)));
  return Buffer.concat(parts);
}

/** The Widevine pssh box for one key: the KID, the configured provider, the resource ID as content ID. */
export function buildWidevinePssh(ctx: DrmContext, provider: string): Buffer {
  const data = encodeWidevinePsshData({
    keyIds: [uuidToBytes(ctx.kid)],
    provider,
    contentId: Buffer.from(ctx.resourceId, 'utf8'),
    protectionScheme: ctx.scheme,
  });
  return buildPssh({ systemId: SYSTEM_IDS.widevine, data, version: 0 });
}

/** HLS attributes in the order of AWS's MediaPackage SPEKE v2 guide: the pssh box inline as a data URI. */
function hlsAttributes(pssh: Buffer, scheme: DrmContext['scheme']): string {
  const uri = `data:text/plain;base64,${pssh.toString('base64')}`;
  return `METHOD=${sampleAesMethod(scheme)},URI="${uri}",KEYFORMAT="urn:uuid:${SYSTEM_IDS.widevine}",KEYFORMATVERSIONS="1"`;
}

/** Widevine signalling; `settings.widevineProvider` goes into every pssh. */
export function createWidevine(settings: Pick<DrmSettings, 'widevineProvider'>): DrmSystem {
  return {
    name: 'Widevine',
    systemIds: [SYSTEM_IDS.widevine],
    schemes: ['cenc', 'cbc1', 'cens', 'cbcs'],
    needsIv: false,
    signal(ctx: DrmContext): DrmSignalling {
      const pssh = buildWidevinePssh(ctx, settings.widevineProvider);
      if (ctx.spekeVersion === 'v1') return { pssh };
      return {
        pssh,
        contentProtectionData: cencPsshElement(pssh),
        hlsSignaling: hlsKeyLines(hlsAttributes(pssh, ctx.scheme)),
      };
    },
  };
}
