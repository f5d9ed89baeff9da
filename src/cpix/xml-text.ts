/** Character codes the XML scanners (`xml-limits.ts`, `xml-reader.ts`) look for. */
export const LT = 0x3c;
export const GT = 0x3e;
export const SLASH = 0x2f;
export const EQUALS = 0x3d;
export const DQUOTE = 0x22;
export const SQUOTE = 0x27;

/** Whether a character code is XML white space (space, tab, LF, CR). */
export function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Whether a code point is an XML 1.0 Char (what a character reference may name). */
function isXmlChar(code: number): boolean {
  return (
    code === 0x09 ||
    code === 0x0a ||
    code === 0x0d ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** The code point a character reference's body (`#65`, `#x41`) names, or NaN. */
function characterReference(body: string): number {
  if (/^#[0-9]{1,7}$/.test(body)) return Number(body.slice(1));
  if (/^#x[0-9a-fA-F]{1,6}$/.test(body)) return parseInt(body.slice(2), 16);
  return NaN;
}

/**
 * Decodes the five predefined entities and character references in character data or an attribute
 * value. A reference to anything else, or an `&` that starts none, is refused: `fail` gets the message
 * and the offset in `raw` (and must throw).
 */
export function decodeReferences(raw: string, fail: (message: string, offset: number) => never): string {
  let amp = raw.indexOf('&');
  if (amp < 0) return raw;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = raw.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 12) fail('"&" is not the start of an entity or character reference', amp);
    const body = raw.slice(amp + 1, semi);
    let decoded = PREDEFINED[body];
    if (decoded === undefined) {
      if (body.charCodeAt(0) !== 0x23) fail(`undefined entity reference &${body};`, amp);
      const code = characterReference(body);
      if (!isXmlChar(code)) fail(`character reference &${body}; names no XML character`, amp);
      decoded = String.fromCodePoint(code);
    }
    out += raw.slice(from, amp) + decoded;
    from = semi + 1;
    amp = raw.indexOf('&', from);
  }
  return out + raw.slice(from);
}

/** Attribute-value normalization (XML 1.0 §3.3.3): each literal tab, LF and CR (or CR LF) becomes a space. */
export function normalizeAttribute(raw: string): string {
  return /[\t\n\r]/.test(raw) ? raw.replace(/\r\n|[\t\n\r]/g, ' ') : raw;
}

/** Character data as the tree keeps it: line ends normalized (CR LF and CR to LF), surrounding white space trimmed. */
export function normalizeText(text: string): string {
  const lines = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
  let start = 0;
  let end = lines.length;
  while (start < end && isXmlSpace(lines.charCodeAt(start))) start++;
  while (end > start && isXmlSpace(lines.charCodeAt(end - 1))) end--;
  return start === 0 && end === lines.length ? lines : lines.slice(start, end);
}

const TEXT_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };
const ATTR_ESCAPES: Readonly<Record<string, string>> = {
  ...TEXT_ESCAPES,
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
};

/** Escapes character data so it reads back as sent: every `&` (even one shaped like a reference) and a CR. */
export function escapeXmlText(s: string): string {
  return /[&<>\r]/.test(s) ? s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c] as string) : s;
}

/** Escapes a double-quoted attribute value so it reads back as sent: tabs and line ends survive normalisation. */
export function escapeXmlAttribute(s: string): string {
  return /[&<>"\t\n\r]/.test(s) ? s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c] as string) : s;
}
