import { BadRequestError } from '../errors';
import type { XmlLimits } from './xml-limits';
import {
  checkName,
  declare,
  elementNamespace,
  resolveAttributes,
  splitName,
  topScope,
  type NamespaceWalk,
  type RawAttribute,
  type Scope,
} from './xml-namespaces';
import type { XmlElement } from './xml-tree';
import {
  decodeReferences,
  DQUOTE,
  EQUALS,
  GT,
  isXmlSpace,
  LT,
  normalizeAttribute,
  normalizeText,
  SLASH,
  SQUOTE,
} from './xml-text';

const BANG = 0x21;
const QUESTION = 0x3f;

/** Characters XML 1.0 forbids anywhere in a document (controls other than tab, LF, CR; U+FFFE, U+FFFF). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const FORBIDDEN_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

/** An element being read: the element, the scope inside it, and its character data not yet flushed. */
interface Open {
  element: XmlElement;
  scope: Scope;
  text: string;
}

/**
 * A single-pass reader of XML 1.0 with namespaces: it checks well-formedness as libxml2 does (tags
 * closed in order, attribute syntax, no duplicate attributes, references, comments, one root, nothing but
 * comments, processing instructions and white space around it) and builds the namespace-resolved tree as
 * it goes. Character data is trimmed, and white-space-only runs are dropped; comments and processing
 * instructions are dropped. It does not check limits (`checkXmlLimits` runs first) and expects no DTD
 * (`parseXml` refuses one first). Every step is linear in the document's length.
 */
export function readXml(xml: string, limits: XmlLimits): XmlElement {
  return new Reader(xml, { limits, declarations: 0 }).read();
}

class Reader {
  private at = 0;
  private readonly stack: Open[] = [];
  private root: XmlElement | undefined;
  private readonly validNames = new Set<string>();

  constructor(
    private readonly xml: string,
    private readonly walk: NamespaceWalk,
  ) {}

  read(): XmlElement {
    const { xml } = this;
    const bad = FORBIDDEN_CHAR.exec(xml);
    if (bad) this.fail(`character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not allowed`, bad.index);
    if (xml.charCodeAt(0) === 0xfeff) this.at = 1;
    if (xml.startsWith('<?xml', this.at) && isXmlSpace(xml.charCodeAt(this.at + 5))) this.declaration();
    while (this.at < xml.length) {
      const lt = xml.indexOf('<', this.at);
      const end = lt < 0 ? xml.length : lt;
      if (end > this.at) this.characters(this.at, end);
      if (lt < 0) break;
      const next = xml.charCodeAt(lt + 1);
      if (next === SLASH) this.endTag(lt);
      else if (next === BANG) this.bang(lt);
      else if (next === QUESTION) this.instruction(lt);
      else this.startTag(lt);
    }
    const open = this.stack[this.stack.length - 1];
    if (open) this.fail(`element <${open.element.qname}> is not closed`, xml.length);
    if (!this.root) throw new BadRequestError('XML document must have exactly one root element');
    return this.root;
  }

  private fail(message: string, at: number): never {
    let line = 1;
    let lineStart = 0;
    for (let i = this.xml.indexOf('\n'); i >= 0 && i < at; i = this.xml.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    throw new BadRequestError(`Malformed XML: ${message} (line ${line}, column ${at - lineStart + 1})`);
  }

  private declaration(): void {
    const end = this.xml.indexOf('?>', this.at);
    if (end < 0) this.fail('XML declaration is not closed', this.at);
    if (!/^\s+version\s*=\s*(["'])1\.\d+\1/.test(this.xml.slice(this.at + 5, end))) {
      this.fail('XML declaration has no valid version', this.at);
    }
    this.at = end + 2;
  }

  /** Character data between markup: outside the root only white space; inside, decoded and kept. */
  private characters(from: number, to: number): void {
    const open = this.stack[this.stack.length - 1];
    if (!open) {
      for (let i = from; i < to; i++) {
        if (!isXmlSpace(this.xml.charCodeAt(i))) this.fail('text outside the root element', i);
      }
      return;
    }
    const raw = this.xml.slice(from, to);
    const cdataEnd = raw.indexOf(']]>');
    if (cdataEnd >= 0) this.fail('"]]>" is not allowed in text', from + cdataEnd);
    open.text += decodeReferences(raw, (message, offset) => this.fail(message, from + offset));
  }

  private flushText(open: Open): void {
    if (open.text === '') return;
    const text = normalizeText(open.text);
    open.text = '';
    if (text !== '') open.element.children.push({ text });
  }

  /** `<!--` comments, `<![CDATA[` sections; anything else after `<!` is not allowed. */
  private bang(lt: number): void {
    const { xml } = this;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0) this.fail('comment is not closed', lt);
      const dashes = xml.indexOf('--', lt + 4);
      if (dashes < end || (end > lt + 4 && xml.charCodeAt(end - 1) === 0x2d)) this.fail('"--" inside a comment', lt);
      this.at = end + 3;
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const open = this.stack[this.stack.length - 1];
      if (!open) this.fail('CDATA section outside the root element', lt);
      const end = xml.indexOf(']]>', lt + 9);
      if (end < 0) this.fail('CDATA section is not closed', lt);
      open.text += xml.slice(lt + 9, end);
      this.at = end + 3;
    } else {
      this.fail(`unexpected markup "${xml.slice(lt, lt + 12)}"`, lt);
    }
  }

  private instruction(lt: number): void {
    const end = this.xml.indexOf('?>', lt + 2);
    if (end < 0) this.fail('processing instruction is not closed', lt);
    let nameEnd = lt + 2;
    while (nameEnd < end && !isXmlSpace(this.xml.charCodeAt(nameEnd))) nameEnd++;
    const target = this.xml.slice(lt + 2, nameEnd);
    if (target.toLowerCase() === 'xml') this.fail('XML declaration allowed only at the start of the document', lt);
    this.checkName(target, 'processing instruction', lt);
    this.at = end + 2;
  }

  private checkName(qname: string, what: string, at: number): void {
    if (this.validNames.has(qname)) return;
    if (qname === '') this.fail(`missing ${what} name`, at);
    checkName(qname, what, this.walk.limits);
    this.validNames.add(qname);
  }

  /** Reads a name from `from` up to white space, `/`, `>`, `=` or a quote. */
  private name(from: number): string {
    const { xml } = this;
    let i = from;
    for (; i < xml.length; i++) {
      const c = xml.charCodeAt(i);
      if (c === GT || c === SLASH || c === EQUALS || c === LT || c === DQUOTE || c === SQUOTE || isXmlSpace(c)) break;
    }
    return xml.slice(from, i);
  }

  private skipSpace(from: number): number {
    let i = from;
    while (i < this.xml.length && isXmlSpace(this.xml.charCodeAt(i))) i++;
    return i;
  }

  private startTag(lt: number): void {
    const { xml } = this;
    const qname = this.name(lt + 1);
    this.checkName(qname, 'element', lt);
    const attrs: RawAttribute[] = [];
    let i = lt + 1 + qname.length;
    for (;;) {
      const afterSpace = this.skipSpace(i);
      const c = xml.charCodeAt(afterSpace);
      if (c === GT || (c === SLASH && xml.charCodeAt(afterSpace + 1) === GT)) {
        this.open(qname, attrs, c === SLASH);
        this.at = afterSpace + (c === SLASH ? 2 : 1);
        return;
      }
      if (afterSpace >= xml.length) this.fail(`tag <${qname}> is not closed`, lt);
      if (afterSpace === i) this.fail(`unexpected character "${xml[i]}" in tag <${qname}>`, i);
      i = this.attribute(afterSpace, qname, attrs);
    }
  }

  /** Reads `name = "value"` at `from` into `attrs`; returns the index after the closing quote. */
  private attribute(from: number, element: string, attrs: RawAttribute[]): number {
    const { xml } = this;
    const qname = this.name(from);
    if (qname === '') this.fail(`unexpected character "${xml[from]}" in tag <${element}>`, from);
    this.checkName(qname, 'attribute', from);
    let i = this.skipSpace(from + qname.length);
    if (xml.charCodeAt(i) !== EQUALS) this.fail(`attribute ${qname} of <${element}> has no value`, from);
    i = this.skipSpace(i + 1);
    const quote = xml.charCodeAt(i);
    if (quote !== DQUOTE && quote !== SQUOTE) this.fail(`value of attribute ${qname} is not quoted`, i);
    const end = xml.indexOf(quote === DQUOTE ? '"' : "'", i + 1);
    if (end < 0) this.fail(`value of attribute ${qname} is not closed`, i);
    const raw = xml.slice(i + 1, end);
    const lt = raw.indexOf('<');
    if (lt >= 0) this.fail(`"<" in the value of attribute ${qname}`, i + 1 + lt);
    for (const seen of attrs) if (seen.qname === qname) this.fail(`attribute ${qname} repeated on <${element}>`, from);
    const value = decodeReferences(normalizeAttribute(raw), (message, offset) => this.fail(message, i + 1 + offset));
    attrs.push({ qname, value });
    return end + 1;
  }

  private open(qname: string, raw: RawAttribute[], empty: boolean): void {
    const parent = this.stack[this.stack.length - 1];
    if (!parent && this.root) throw new BadRequestError('XML document must have exactly one root element');
    const scope = declare(parent ? parent.scope : topScope(), raw, qname, this.walk);
    const [prefix, local] = splitName(qname);
    const ns = elementNamespace(scope, prefix, qname);
    const element: XmlElement = { qname, ns, local, attrs: resolveAttributes(scope, raw, qname), children: [] };
    if (parent) {
      this.flushText(parent);
      parent.element.children.push(element);
    } else {
      this.root = element;
    }
    if (!empty) this.stack.push({ element, scope, text: '' });
  }

  private endTag(lt: number): void {
    const qname = this.name(lt + 2);
    const gt = this.skipSpace(lt + 2 + qname.length);
    if (this.xml.charCodeAt(gt) !== GT) this.fail(`closing tag </${qname}> is not closed`, lt);
    const open = this.stack.pop();
    if (!open) this.fail(`closing tag </${qname}> has no open element`, lt);
    if (open.element.qname !== qname) {
      this.fail(`closing tag </${qname}> does not match <${open.element.qname}>`, lt);
    }
    this.flushText(open);
    this.at = gt + 1;
  }
}
