/**
 * PlayReady: the PlayReady Object (PRO) carrying a WRMHEADER, per Microsoft's "PlayReady Header
 * Specification". WRMHEADER 4.0.0.0 (AESCTR, with CHECKSUM) serves `cenc`; 4.3.0.0 (AESCBC, no
 * checksum) serves `cbcs`. PlayReady does not support `cbc1` or `cens` ("PlayReady Content
 * Encryption Modes"), so they are left out of `schemes`.
 */
import { createCipheriv } from 'node:crypto';
import type { DrmContext, DrmSettings, DrmSignalling, DrmSystem, EncryptionScheme } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { buildPssh, uuidToBytes } from './pssh';
import { cencPsshElement, escapeXml, hlsKeyLines, sampleAesMethod } from './signalling-text';

/** What a WRMHEADER is built from. */
interface WrmHeaderInput {
  kid: string;
  key: Buffer;
  /** `cbcs` gives WRMHEADER 4.3.0.0 (AESCBC); anything else 4.0.0.0 (AESCTR). */
  scheme?: EncryptionScheme;
  laUrl?: string;
}

/** Namespace of the WRMHEADER element. */
const PLAYREADY_HEADER_NAMESPACE = 'http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader';
/** DASH namespace of `<mspr:pro>`. */
const MSPR_NAMESPACE = 'urn:microsoft:playready';

const RECORD_TYPE_RIGHTS_MANAGEMENT_HEADER = 1;
const PRO_HEADER_SIZE = 6;
const RECORD_HEADER_SIZE = 4;
const MAX_UINT16 = 0xffff;
const CHECKSUM_SIZE = 8;

/** The KID as a little-endian GUID (first three fields byte-swapped), the byte order PlayReady uses. */
export function playreadyKidBytes(kid: string): Buffer {
  const be = uuidToBytes(kid);
  const le = Buffer.from(be);
  le.writeUInt32LE(be.readUInt32BE(0), 0);
  le.writeUInt16LE(be.readUInt16BE(4), 4);
  le.writeUInt16LE(be.readUInt16BE(6), 6);
  return le;
}

/** The KID as WRMHEADER writes it: base64 of the little-endian GUID. */
export function playreadyKidBase64(kid: string): string {
  return playreadyKidBytes(kid).toString('base64');
}

/** WRMHEADER 4.0 CHECKSUM: base64 of the first 8 bytes of AES-128-ECB(key, little-endian KID). */
export function playreadyChecksum(key: Buffer, kid: string | Buffer): string {
  if (key.length !== 16) throw new RangeError(`A PlayReady content key is 16 bytes, got ${key.length}`);
  const cipher = createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  // One whole block in, one block out: update() returns it, and final() would add nothing.
  const block = cipher.update(typeof kid === 'string' ? playreadyKidBytes(kid) : kid);
  return block.subarray(0, CHECKSUM_SIZE).toString('base64');
}

/** `<LA_URL>` when a license server is configured. */
function laUrlElement(laUrl: string | undefined): string {
  return laUrl ? `<LA_URL>${escapeXml(laUrl)}</LA_URL>` : '';
}

/** WRMHEADER 4.0.0.0: AES-CTR, one KID with its checksum. */
function wrmHeaderV40(input: WrmHeaderInput): string {
  const kid = playreadyKidBytes(input.kid);
  return (
    `<WRMHEADER xmlns="${PLAYREADY_HEADER_NAMESPACE}" version="4.0.0.0"><DATA>` +
    '<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>' +
    `<KID>${kid.toString('base64')}</KID><CHECKSUM>${playreadyChecksum(input.key, kid)}</CHECKSUM>` +
    `${laUrlElement(input.laUrl)}</DATA></WRMHEADER>`
  );
}

/** WRMHEADER 4.3.0.0: AES-CBC, no checksum, nodes closed explicitly as the 4.3 syntax rules require. */
function wrmHeaderV43(input: WrmHeaderInput): string {
  return (
    `<WRMHEADER xmlns="${PLAYREADY_HEADER_NAMESPACE}" version="4.3.0.0"><DATA><PROTECTINFO><KIDS>` +
    `<KID ALGID="AESCBC" VALUE="${playreadyKidBase64(input.kid)}"></KID>` +
    `</KIDS></PROTECTINFO>${laUrlElement(input.laUrl)}</DATA></WRMHEADER>`
  );
}

/** The WRMHEADER XML for one key, version chosen by scheme. */
export function buildWrmHeader(input: WrmHeaderInput): string {
  return input.scheme === 'cbcs' ? wrmHeaderV43(input) : wrmHeaderV40(input);
}

/** Wraps a WRMHEADER in a PlayReady Object: u32 LE length, u16 LE count, one type-1 record of UTF-16LE XML. */
export function buildPlayReadyObject(wrmHeader: string): Buffer {
  const value = Buffer.from(wrmHeader, 'utf16le');
  if (value.length > MAX_UINT16) throw new RangeError('WRMHEADER is too long for a PlayReady Object record');
  const out = Buffer.alloc(PRO_HEADER_SIZE + RECORD_HEADER_SIZE + value.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(1, 4);
  out.writeUInt16LE(RECORD_TYPE_RIGHTS_MANAGEMENT_HEADER, 6);
  out.writeUInt16LE(value.length, 8);
  value.copy(out, PRO_HEADER_SIZE + RECORD_HEADER_SIZE);
  return out;
}

/** DASH ContentProtectionData: `<cenc:pssh>` then `<mspr:pro>`, the pair AWS's SPEKE v2 guide requires. */
function contentProtectionData(pssh: Buffer, proBase64: string): string {
  return `${cencPsshElement(pssh)}<mspr:pro xmlns:mspr="${MSPR_NAMESPACE}">${proBase64}</mspr:pro>`;
}

/** HLS attributes in AWS's order (METHOD, KEYFORMAT, KEYFORMATVERSIONS, URI) with the PRO as a UTF-16 data URI. */
function hlsAttributes(proBase64: string, scheme: DrmContext['scheme']): string {
  const uri = `data:text/plain;charset=UTF-16;base64,${proBase64}`;
  return `METHOD=${sampleAesMethod(scheme)},KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1",URI="${uri}"`;
}

/** PlayReady signalling; `settings.playreadyLaUrl` becomes the WRMHEADER LA_URL when set. */
export function createPlayReady(settings: Pick<DrmSettings, 'playreadyLaUrl'>): DrmSystem {
  return {
    name: 'PlayReady',
    systemIds: [SYSTEM_IDS.playready],
    schemes: ['cenc', 'cbcs'],
    needsIv: false,
    signal(ctx: DrmContext): DrmSignalling {
      const header = buildWrmHeader({ kid: ctx.kid, key: ctx.key, scheme: ctx.scheme, laUrl: settings.playreadyLaUrl });
      const pro = buildPlayReadyObject(header);
      const pssh = buildPssh({ systemId: SYSTEM_IDS.playready, data: pro, version: 0 });
      if (ctx.spekeVersion === 'v1') return { pssh, protectionHeader: pro };
      const proBase64 = pro.toString('base64');
      return {
        pssh,
        contentProtectionData: contentProtectionData(pssh, proBase64),
        hlsSignaling: hlsKeyLines(hlsAttributes(proBase64, ctx.scheme)),
        protectionHeader: pro,
      };
    },
  };
}
