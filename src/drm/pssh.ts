/**
 * ISO BMFF `pssh` (Protection System Specific Header) boxes, ISO/IEC 23001-7 §8.1:
 * `size(4) 'pssh' version(1) flags(3) SystemID(16) [v1: KID_count(4) KID(16)*] DataSize(4) Data`.
 * All integers are big-endian.
 */
import { BadRequestError } from '../errors';
import { formatUuid } from '../util/uuid-v7';

/** What a `pssh` box carries. */
interface PsshOptions {
  /** DRM system ID as a UUID string. */
  systemId: string;
  /** KIDs (UUID strings) listed in a version 1 box; a version 0 box has no KID list. */
  kids?: readonly string[];
  /** System-specific data; empty when absent. */
  data?: Buffer;
  /** Box version: 0 (no KID list) or 1 (KID count + KIDs). */
  version: 0 | 1;
}

/** A KID or system ID that is not a 16-byte UUID; it reached us from the request, so it is a client error. */
export class InvalidUuidError extends BadRequestError {
  constructor(value: string) {
    super(`Invalid UUID: ${JSON.stringify(value)}`);
  }
}

const UUID_HEX = /^[0-9a-f]{32}$/i;

/** Value of each hex digit by character code; -1 for anything else. */
const HEX_VALUE: readonly number[] = Array.from({ length: 128 }, (_, c) => {
  const ch = String.fromCharCode(c);
  return /[0-9a-fA-F]/.test(ch) ? parseInt(ch, 16) : -1;
});

/** The bytes of a UUID in its usual 8-4-4-4-12 form, or undefined for any other string (a hot path: no regex). */
function hyphenatedUuidBytes(uuid: string): Buffer | undefined {
  if (uuid.length !== 36) return undefined;
  const out = Buffer.allocUnsafe(16);
  let byte = 0;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (uuid.charCodeAt(i) !== 0x2d) return undefined;
      i--;
      continue;
    }
    const high = HEX_VALUE[uuid.charCodeAt(i)] ?? -1;
    const low = HEX_VALUE[uuid.charCodeAt(i + 1)] ?? -1;
    if (high < 0 || low < 0) return undefined;
    out[byte++] = high * 16 + low;
  }
  return out;
}
const BOX_HEADER_SIZE = 8;
const EMPTY = Buffer.alloc(0);
const UINT32_SIZE = 4;

/** Turns a UUID string (with or without hyphens) into its 16 bytes in the order written, as CENC needs. */
export function uuidToBytes(uuid: string): Buffer {
  const hyphenated = hyphenatedUuidBytes(uuid);
  if (hyphenated) return hyphenated;
  const hex = uuid.replace(/-/g, '');
  if (!UUID_HEX.test(hex)) throw new InvalidUuidError(uuid);
  return Buffer.from(hex, 'hex');
}

/** Turns 16 bytes back into the lower-case hyphenated UUID form used in CPIX documents. */
export function bytesToUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`A UUID is 16 bytes, got ${bytes.length}`);
  return formatUuid(bytes);
}

/** Encodes a big-endian uint32, the integer width of every pssh length and count field. */
function uint32(value: number): Buffer {
  const out = Buffer.alloc(UINT32_SIZE);
  out.writeUInt32BE(value, 0);
  return out;
}

/** The version 1 KID list: count then the KIDs; nothing for version 0. */
function kidList(opts: PsshOptions): Buffer[] {
  const kids = opts.kids ?? [];
  if (opts.version === 0) {
    if (kids.length > 0) throw new RangeError('A version 0 pssh box cannot carry a KID list');
    return [];
  }
  return [uint32(kids.length), ...kids.map(uuidToBytes)];
}

/** Builds a complete `pssh` box (header included) for the `cpix:PSSH` element and `<cenc:pssh>`. */
export function buildPssh(opts: PsshOptions): Buffer {
  const data = opts.data ?? EMPTY;
  const kids = kidList(opts);
  const size = BOX_HEADER_SIZE + 4 + 16 + kids.reduce((n, b) => n + b.length, 0) + UINT32_SIZE + data.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size, 0);
  out.write('pssh', 4, 'latin1');
  out.writeUInt32BE(opts.version * 0x1000000, 8);
  uuidToBytes(opts.systemId).copy(out, 12);
  let at = 28;
  for (const b of kids) at += b.copy(out, at);
  out.writeUInt32BE(data.length, at);
  data.copy(out, at + UINT32_SIZE);
  return out;
}
