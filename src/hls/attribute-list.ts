/**
 * HLS attribute lists (RFC 8216 §4.2): `NAME=value` pairs separated by commas, where a value is a
 * quoted string (which may hold commas and `=`), a hexadecimal sequence, a decimal integer or float,
 * a resolution or an enumerated string. Parsed character by character, never split on commas.
 */

/** The value types of RFC 8216 §4.2 (signed and unsigned floats are one kind here). */
type AttributeKind =
  'quoted-string' | 'hexadecimal' | 'decimal-integer' | 'decimal-float' | 'resolution' | 'enumerated';

/** One attribute: its name, its value without quotes, and what kind of value it is. */
export interface Attribute {
  name: string;
  value: string;
  kind: AttributeKind;
}

/**
 * A playlist line that is not valid M3U8; `line` is 1-based. `rule` says what is wrong without quoting
 * the input, for messages that go back to callers (the input may be an origin's, or hold credentials).
 */
export class PlaylistSyntaxError extends Error {
  constructor(
    readonly rule: string,
    readonly line?: number,
    excerpt?: string,
  ) {
    const where = line === undefined ? '' : `line ${line}: `;
    super(`${where}${rule}${excerpt === undefined ? '' : ` at "${excerpt}"`}`);
    this.name = 'PlaylistSyntaxError';
  }
}

/** Whether `text` holds a character that ends or splits a line for some player (C0 controls but tab, DEL, NEL, LS, PS). */
export function breaksLine(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c === 0x85 || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
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
  if (raw === '' || /["\s]/.test(raw)) throw new PlaylistSyntaxError('bad attribute value', line, raw);
  return [raw, end];
}

/** Parses an attribute list; throws PlaylistSyntaxError on a malformed list (bad name, unterminated quote). */
export function parseAttributeList(text: string, line?: number): Attribute[] {
  const attributes: Attribute[] = [];
  let pos = 0;
  while (pos < text.length) {
    const eq = text.indexOf('=', pos);
    const name = eq < 0 ? '' : text.slice(pos, eq);
    if (!NAME.test(name)) throw new PlaylistSyntaxError('bad attribute name', line, text.slice(pos, pos + 20));
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

/**
 * Refuses any value that could add an attribute or a line: a quoted string holds no `"` or line break,
 * an unquoted value no `,`, `"`, space or control character, a name only A-Z 0-9 -.
 */
function serializeAttribute(a: Attribute): string {
  if (!NAME.test(a.name)) throw new PlaylistSyntaxError('attribute name must be A-Z, 0-9 and -');
  if (a.kind !== 'quoted-string') {
    if (a.value === '' || /[",\s]/.test(a.value) || breaksLine(a.value)) {
      throw new PlaylistSyntaxError(`attribute ${a.name} cannot hold a comma, quote, space or line break`);
    }
    return `${a.name}=${a.value}`;
  }
  if (a.value.includes('"') || breaksLine(a.value)) {
    throw new PlaylistSyntaxError(`attribute ${a.name} cannot hold a quote or line break`);
  }
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
