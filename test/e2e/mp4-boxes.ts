/**
 * Just enough ISO BMFF parsing to check what a packager wrote into a CENC init segment: the `pssh` boxes
 * under `moov`, and the protection scheme (`schm`) and track encryption box (`tenc`) of the sample entry.
 */

/** One box: its type and where it sits in the buffer. */
export interface Mp4Box {
  type: string;
  /** The whole box, header included. */
  bytes: Buffer;
  /** The payload after the (size, type) header. */
  body: Buffer;
}

/** Boxes whose payload is only child boxes. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'sinf', 'schi', 'mvex', 'edts', 'dinf']);
/** Bytes before the child boxes of a box that mixes fields and children. */
const CHILD_OFFSET: Record<string, number> = { stsd: 8, encv: 78, enca: 28 };

/** The boxes directly inside `buf`, in order. */
export function readBoxes(buf: Buffer): Mp4Box[] {
  const boxes: Mp4Box[] = [];
  for (let at = 0; at + 8 <= buf.length;) {
    let size = buf.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) {
      size = buf.length - at;
    }
    if (size < header || at + size > buf.length) throw new Error(`malformed box at offset ${at}`);
    const bytes = buf.subarray(at, at + size);
    boxes.push({ type: bytes.toString('latin1', 4, 8), bytes, body: bytes.subarray(header) });
    at += size;
  }
  return boxes;
}

function children(box: Mp4Box): Mp4Box[] {
  if (CONTAINERS.has(box.type)) return readBoxes(box.body);
  const offset = CHILD_OFFSET[box.type];
  return offset === undefined ? [] : readBoxes(box.body.subarray(offset));
}

/** Every box below `boxes` (depth first) whose type is `type`. */
export function findBoxes(boxes: Mp4Box[], type: string): Mp4Box[] {
  return boxes.flatMap((box) => [...(box.type === type ? [box] : []), ...findBoxes(children(box), type)]);
}

/** The complete `pssh` boxes of the `moov` of an init segment, in file order. */
export function initPsshBoxes(init: Buffer): Buffer[] {
  const moov = readBoxes(init).find((b) => b.type === 'moov');
  if (!moov) throw new Error('no moov box');
  return readBoxes(moov.body)
    .filter((b) => b.type === 'pssh')
    .map((b) => Buffer.from(b.bytes));
}

/** What `schm` and `tenc` say about a protected track. */
export interface TrackProtection {
  /** Scheme type FourCC: `cenc`, `cbcs`, ... */
  scheme: string;
  /** `tenc` default_KID as a lower-case UUID. */
  defaultKid: string;
  /** `tenc` default_Per_Sample_IV_Size (0 with a constant IV). */
  perSampleIvSize: number;
  /** `tenc` default_constant_IV, when the per-sample IV size is 0. */
  constantIv?: Buffer;
}

function uuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Reads the protection scheme and track encryption box of the (single) protected track of an init segment. */
export function trackProtection(init: Buffer): TrackProtection {
  const top = readBoxes(init);
  const [schm] = findBoxes(top, 'schm');
  const [tenc] = findBoxes(top, 'tenc');
  if (!schm || !tenc) throw new Error('no schm/tenc box: the track is not protected');
  const scheme = schm.body.toString('latin1', 4, 8);
  // tenc: version+flags (4), reserved (1), reserved or crypt/skip pattern (1), isProtected (1), IV size (1), KID (16)
  const perSampleIvSize = tenc.body.readUInt8(7);
  const defaultKid = uuid(tenc.body.subarray(8, 24));
  if (perSampleIvSize !== 0) return { scheme, defaultKid, perSampleIvSize };
  const ivSize = tenc.body.readUInt8(24);
  return { scheme, defaultKid, perSampleIvSize, constantIv: Buffer.from(tenc.body.subarray(25, 25 + ivSize)) };
}
