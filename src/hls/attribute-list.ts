/**
 * HLS attribute lists (RFC 8216 §4.2): `NAME=value` pairs separated by commas, where a value is a
 * quoted string (which may hold commas and `=`), a hexadecimal sequence, a decimal integer or float,
 * a resolution or an enumerated string. Parsed character by character, never split on commas.
 */

/** The value types of RFC 8216 §4.2 (signed and unsigned floats are one kind here). */
export type AttributeKind =
  'quoted-string' | 'hexadecimal' | 'decimal-integer' | 'decimal-float' | 'resolution' | 'enumerated';

/** One attribute: its name, its value without quotes, and what kind of value it is. */
export interface Attribute {
  name: string;
  value: string;
  kind: AttributeKind;
}

/** A playlist line that is not valid M3U8; `line` is 1-based. */
export class PlaylistSyntaxError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'PlaylistSyntaxError';
  }
}

const NAME = /^[A-Z0-9-]+$/;

function kindOf(raw: string): AttributeKind {
  if (/^0[xX][0-9A-Fa-f]+$/.test(raw)) return 'hexadecimal';
  if (/^\d{1,20}$/.test(raw)) return 'decimal-integer';
  if (/^-?\d+(\.\d+)?$/.test(raw)) return 'decimal-float';
  if (/^\d+x\d+$/.test(raw)) return 'resolution';
  return 'enumerated';
}

function readQuoted(text: string, start: number, line?: number): [string, number] {
  const end = text.indexOf('"', start + 1);
  if (end < 0) throw new PlaylistSyntaxError('unterminated quoted string in attribute list', line);
  return [text.slice(start + 1, end), end + 1];
}

function readUnquoted(text: string, start: number, line?: number): [string, number] {
  const comma = text.indexOf(',', start);
  const end = comma < 0 ? text.length : comma;
  const raw = text.slice(start, end);
  if (raw === '' || /["\s]/.test(raw)) throw new PlaylistSyntaxError(`bad attribute value "${raw}"`, line);
  return [raw, end];
}

/** Parses an attribute list; throws PlaylistSyntaxError on a malformed list (bad name, unterminated quote). */
export function parseAttributeList(text: string, line?: number): Attribute[] {
  const attributes: Attribute[] = [];
  let pos = 0;
  while (pos < text.length) {
    const eq = text.indexOf('=', pos);
    const name = eq < 0 ? '' : text.slice(pos, eq);
    if (!NAME.test(name)) throw new PlaylistSyntaxError(`bad attribute name at "${text.slice(pos, pos + 20)}"`, line);
    const quoted = text[eq + 1] === '"';
    const [value, next] = quoted ? readQuoted(text, eq + 1, line) : readUnquoted(text, eq + 1, line);
    attributes.push({ name, value, kind: quoted ? 'quoted-string' : kindOf(value) });
    if (next < text.length && text[next] !== ',') {
      throw new PlaylistSyntaxError(`expected "," after attribute ${name}`, line);
    }
    pos = next + 1;
    if (next === text.length - 1) throw new PlaylistSyntaxError('attribute list ends with ","', line);
  }
  return attributes;
}

/** Serializes attributes back to `NAME=value,NAME="quoted"` (the canonical form: no spaces). */
export function serializeAttributeList(attributes: readonly Attribute[]): string {
  return attributes.map(serializeAttribute).join(',');
}

function serializeAttribute(a: Attribute): string {
  if (a.kind !== 'quoted-string') return `${a.name}=${a.value}`;
  if (/["\r\n]/.test(a.value)) throw new PlaylistSyntaxError(`attribute ${a.name} cannot hold a quote or line break`);
  return `${a.name}="${a.value}"`;
}

/** The value of the first attribute called `name`, or undefined. */
export function attributeValue(attributes: readonly Attribute[], name: string): string | undefined {
  return attributes.find((a) => a.name === name)?.value;
}

/** A copy with attribute `name`'s value replaced (kind kept); unchanged when it is absent. */
export function withAttribute(attributes: readonly Attribute[], name: string, value: string): Attribute[] {
  return attributes.map((a) => (a.name === name ? { ...a, value } : a));
}
