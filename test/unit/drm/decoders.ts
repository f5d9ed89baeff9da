/**
 * Independent decoders for what the DRM modules produce. Written from the specs (ISO/IEC 23001-7 pssh,
 * protobuf wire format, PlayReady Object, HLS attribute lists), sharing no code with src/drm.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** A decoded ISO BMFF pssh box. */
export interface DecodedPssh {
  size: number;
  type: string;
  version: number;
  flags: number;
  systemId: string;
  kids: string[];
  dataSize: number;
  data: Buffer;
}

/** Formats 16 bytes as a hyphenated lower-case UUID, in the order given. */
export function hexUuid(bytes: Uint8Array): string {
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20, 32)].join('-');
}

/** Parses a pssh box and checks that its size fields account for every byte. */
export function decodePssh(box: Buffer): DecodedPssh {
  const size = box.readUInt32BE(0);
  if (size !== box.length) throw new Error(`box size ${size} != buffer length ${box.length}`);
  const type = box.subarray(4, 8).toString('latin1');
  const version = box.readUInt8(8);
  const flags = box.readUIntBE(9, 3);
  const systemId = hexUuid(box.subarray(12, 28));
  let pos = 28;
  const kids: string[] = [];
  if (version === 1) {
    const count = box.readUInt32BE(pos);
    pos += 4;
    if (pos + count * 16 + 4 > box.length) throw new Error(`KID count ${count} runs past the box`);
    for (let i = 0; i < count; i++, pos += 16) kids.push(hexUuid(box.subarray(pos, pos + 16)));
  }
  const dataSize = box.readUInt32BE(pos);
  pos += 4;
  if (pos + dataSize !== box.length) throw new Error(`data size ${dataSize} does not end the box`);
  return { size, type, version, flags, systemId, kids, dataSize, data: box.subarray(pos) };
}

/** Reads one protobuf varint. */
export function readVarint(buf: Buffer, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let pos = offset;
  for (;;) {
    const byte = buf[pos];
    if (byte === undefined) throw new Error('truncated varint');
    value += (byte & 0x7f) * scale;
    scale *= 128;
    pos++;
    if ((byte & 0x80) === 0) return { value, next: pos };
  }
}

/** One decoded protobuf field, with its byte span in the message. */
export interface ProtoField {
  field: number;
  wireType: number;
  value: number | Buffer;
  start: number;
  end: number;
}

/** Decodes a protobuf message field by field (varint and length-delimited wire types only). */
export function decodeProtobuf(buf: Buffer): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const key = readVarint(buf, pos);
    const field = Math.floor(key.value / 8);
    const wireType = key.value % 8;
    pos = key.next;
    if (wireType === 0) {
      const v = readVarint(buf, pos);
      fields.push({ field, wireType, value: v.value, start, end: v.next });
      pos = v.next;
    } else if (wireType === 2) {
      const len = readVarint(buf, pos);
      const end = len.next + len.value;
      if (end > buf.length) throw new Error('length-delimited field runs past the message');
      fields.push({ field, wireType, value: buf.subarray(len.next, end), start, end });
      pos = end;
    } else {
      throw new Error(`unexpected wire type ${wireType}`);
    }
  }
  return fields;
}

/** A decoded PlayReady Object. */
export interface DecodedPro {
  length: number;
  recordCount: number;
  records: { type: number; length: number; value: Buffer }[];
}

/** Parses a PlayReady Object (all integers little-endian) and checks its length fields. */
export function decodePlayReadyObject(buf: Buffer): DecodedPro {
  const length = buf.readUInt32LE(0);
  if (length !== buf.length) throw new Error(`PRO length ${length} != buffer length ${buf.length}`);
  const recordCount = buf.readUInt16LE(4);
  const records: DecodedPro['records'] = [];
  let pos = 6;
  for (let i = 0; i < recordCount; i++) {
    const type = buf.readUInt16LE(pos);
    const len = buf.readUInt16LE(pos + 2);
    records.push({ type, length: len, value: buf.subarray(pos + 4, pos + 4 + len) });
    pos += 4 + len;
  }
  if (pos !== buf.length) throw new Error('PRO records do not fill the object');
  return { length, recordCount, records };
}

/** Converts a little-endian GUID (PlayReady byte order) back to a UUID string. */
export function leGuidToUuid(b: Uint8Array): string {
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return hexUuid(Uint8Array.from(order, (i) => b[i] as number));
}

/** A parsed XML element: its attributes and text or children, as fast-xml-parser gives them. */
export type XmlValue = Record<string, unknown>;

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  textNodeName: '#text',
  alwaysCreateTextNode: true,
});

/** Parses an XML document or fragment (wrapped in a root) after checking it is well-formed. */
export function parseXml(xml: string): XmlValue {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`malformed XML: ${valid.err.msg}`);
  return xmlParser.parse(xml) as XmlValue;
}

/** Parses a fragment of sibling elements by wrapping it in `<fragment>`. */
export function parseFragment(fragment: string): XmlValue {
  return parseXml(`<fragment>${fragment}</fragment>`).fragment as XmlValue;
}

/** Walks a path of element names through a parsed XML value. */
export function at(node: unknown, ...path: string[]): XmlValue {
  let cur = node;
  for (const name of path) {
    if (typeof cur !== 'object' || cur === null || !(name in cur))
      throw new Error(`no ${name} in path ${path.join('/')}`);
    cur = (cur as XmlValue)[name];
  }
  return cur as XmlValue;
}

/** Splits an HLS tag line into its name and ordered attribute list (RFC 8216 §4.2). */
export function parseHlsTag(line: string): { tag: string; attrs: [string, string][] } {
  const colon = line.indexOf(':');
  const tag = line.slice(0, colon);
  const attrs: [string, string][] = [];
  const re = /([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)(,|$)/gy;
  re.lastIndex = colon + 1;
  let m: RegExpExecArray | null;
  while (re.lastIndex < line.length && (m = re.exec(line)) !== null) {
    const raw = m[2] as string;
    attrs.push([m[1] as string, raw.startsWith('"') ? raw.slice(1, -1) : raw]);
  }
  if (re.lastIndex !== line.length) throw new Error(`unparsable attribute list: ${line}`);
  return { tag, attrs };
}
