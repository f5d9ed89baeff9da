import { BadRequestError, KeyplaneError } from '../errors';
import { DQUOTE, EQUALS, GT, isXmlSpace, LT, SLASH, SQUOTE } from './xml-text';

/**
 * How much one XML document may carry. Each bound is far above any real CPIX document (a SPEKE v2
 * request with 5,000 ContentKeys, each with DRMSystems, usage rules and key periods, uses under a
 * tenth of them) and keeps the work a request can cause linear in its size and small in absolute terms.
 */
export interface XmlLimits {
  /** Elements in the document (413 beyond). */
  maxElements: number;
  /** Nodes: elements, text runs (not white space only), comments, CDATA sections and processing instructions (413 beyond). */
  maxNodes: number;
  /** Element nesting depth. */
  maxDepth: number;
  /** Attributes (namespace declarations included) on one element. */
  maxAttributesPerElement: number;
  /** Namespace declarations (`xmlns`, `xmlns:p`) in the whole document. */
  maxNamespaceDeclarations: number;
  /**
   * Namespace declarations in force on one element (its own and its ancestors'). The serializer
   * (xmlbuilder2) copies the in-scope namespaces for every element it writes, so its cost is elements × this.
   */
  maxNamespacesInScope: number;
  /** Characters in one attribute value, as written. */
  maxAttributeValueChars: number;
  /** Characters in one start or end tag (name, attributes and white space), as written. */
  maxTagChars: number;
  /** Characters in one element or attribute name (prefix included). */
  maxNameChars: number;
  /** Characters in one text run, comment, CDATA section or processing instruction, as written. */
  maxTextChars: number;
}

/** Elements in a request document (a 5,000-key v2 request with 4 DRM systems each has about 60,000). */
export const MAX_XML_ELEMENTS = 100_000;
/** Nodes of any kind in a request document. */
const MAX_XML_NODES = 250_000;
/** Nesting depth (CPIX needs 6; signed documents with ds:Signature about 10). */
const MAX_XML_DEPTH = 32;
/** Attributes on one element (a CPIX root with every namespace declared has about 10). */
export const MAX_XML_ATTRIBUTES_PER_ELEMENT = 64;
/** Namespace declarations per document (every ContentKey could redeclare two and still pass). */
const MAX_XML_NAMESPACE_DECLARATIONS = 20_000;
/** Namespace declarations in force on one element (a CPIX root declares up to about 8). */
export const MAX_XML_NAMESPACES_IN_SCOPE = 32;
/** One attribute value (KIDs, IVs, URIs and IDs are well under 1 KiB). */
export const MAX_XML_ATTRIBUTE_VALUE_CHARS = 16 * 1024;
/** One tag with its attributes. */
export const MAX_XML_TAG_CHARS = 64 * 1024;
/** One element or attribute name. */
export const MAX_XML_NAME_CHARS = 256;
/** One text run (certificates, PSSH and PlayReady headers in base64 are a few KiB). */
export const MAX_XML_TEXT_CHARS = 256 * 1024;

/** The bounds for documents a caller sends (SPEKE requests). */
export const CPIX_REQUEST_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxElements: MAX_XML_ELEMENTS,
  maxNodes: MAX_XML_NODES,
  maxDepth: MAX_XML_DEPTH,
  maxAttributesPerElement: MAX_XML_ATTRIBUTES_PER_ELEMENT,
  maxNamespaceDeclarations: MAX_XML_NAMESPACE_DECLARATIONS,
  maxNamespacesInScope: MAX_XML_NAMESPACES_IN_SCOPE,
  maxAttributeValueChars: MAX_XML_ATTRIBUTE_VALUE_CHARS,
  maxTagChars: MAX_XML_TAG_CHARS,
  maxNameChars: MAX_XML_NAME_CHARS,
  maxTextChars: MAX_XML_TEXT_CHARS,
});

/**
 * The bounds for responses the CLI reads: a response holds every key's signalling for every DRM system
 * (several elements and a PSSH per key and system), so it may be four times as large as a request.
 */
export const CPIX_RESPONSE_LIMITS: Readonly<XmlLimits> = Object.freeze({
  ...CPIX_REQUEST_LIMITS,
  maxElements: 4 * MAX_XML_ELEMENTS,
  maxNodes: 4 * MAX_XML_NODES,
  maxTextChars: 4 * MAX_XML_TEXT_CHARS,
});

/** A document over one of the XmlLimits that bound its shape (400); the message names the limit. */
export class XmlLimitError extends BadRequestError {
  constructor(
    readonly limit: keyof XmlLimits,
    message: string,
  ) {
    super(message, { limit });
  }
}

/** A document over one of the XmlLimits that bound its sheer size, elements or nodes (413); the message names the limit. */
export class XmlTooLargeError extends KeyplaneError {
  constructor(
    readonly limit: keyof XmlLimits,
    message: string,
  ) {
    super(413, 'payload_too_large', message, { details: { limit } });
  }
}

function isNameEnd(c: number): boolean {
  return c === GT || c === SLASH || isXmlSpace(c);
}

/** Whether xml[from, to) is only white space (indentation between tags is not counted as a node). */
function isWhiteSpace(xml: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isXmlSpace(xml.charCodeAt(i))) return false;
  return true;
}

/** Running totals of one scan. */
interface ScanState {
  elements: number;
  nodes: number;
  depth: number;
  declarations: number;
}

function countNode(state: ScanState, limits: XmlLimits): void {
  if (++state.nodes > limits.maxNodes) {
    throw new XmlTooLargeError('maxNodes', `XML document has more than ${limits.maxNodes} nodes (the limit)`);
  }
}

function checkRun(limits: XmlLimits, chars: number, what: string): void {
  if (chars > limits.maxTextChars) {
    throw new XmlLimitError('maxTextChars', `XML ${what} longer than ${limits.maxTextChars} characters (the limit)`);
  }
}

/** Scans a comment, CDATA section, PI or declaration starting at `at`; returns the index after it (or -1: unclosed). */
function skipSpecial(xml: string, at: number, limits: XmlLimits, state: ScanState): number {
  const [open, close, what] = xml.startsWith('<!--', at)
    ? ['<!--', '-->', 'comment']
    : xml.startsWith('<![CDATA[', at)
      ? ['<![CDATA[', ']]>', 'CDATA section']
      : xml.startsWith('<?', at)
        ? ['<?', '?>', 'processing instruction']
        : ['<!', '>', 'declaration'];
  const end = xml.indexOf(close, at + open.length);
  checkRun(limits, (end < 0 ? xml.length : end) - at, what);
  countNode(state, limits);
  return end < 0 ? -1 : end + close.length;
}

function checkElementName(xml: string, at: number, limits: XmlLimits): void {
  let i = at;
  while (i < xml.length && !isNameEnd(xml.charCodeAt(i))) i++;
  if (i - at > limits.maxNameChars) {
    throw new XmlLimitError(
      'maxNameChars',
      `XML element name longer than ${limits.maxNameChars} characters (the limit)`,
    );
  }
}

/**
 * Scans a start or end tag starting at `at` (on `<`), counting attributes and measuring quoted values;
 * returns the index after its `>` (or -1: unclosed).
 */
function scanTag(xml: string, at: number, limits: XmlLimits, state: ScanState): number {
  const closing = xml.charCodeAt(at + 1) === SLASH;
  checkElementName(xml, at + (closing ? 2 : 1), limits);
  const stop = Math.min(xml.length, at + limits.maxTagChars);
  let attributes = 0;
  for (let i = at + 1; i < stop; i++) {
    const c = xml.charCodeAt(i);
    if (c === DQUOTE || c === SQUOTE) {
      const endQuote = xml.indexOf(c === DQUOTE ? '"' : "'", i + 1);
      const valueEnd = endQuote < 0 ? xml.length : endQuote;
      if (valueEnd - i - 1 > limits.maxAttributeValueChars) {
        throw new XmlLimitError(
          'maxAttributeValueChars',
          `XML attribute value longer than ${limits.maxAttributeValueChars} characters (the limit)`,
        );
      }
      if (endQuote < 0) return -1;
      i = endQuote;
    } else if (c === EQUALS) {
      if (++attributes > limits.maxAttributesPerElement) {
        throw new XmlLimitError(
          'maxAttributesPerElement',
          `XML element has more than ${limits.maxAttributesPerElement} attributes (the limit)`,
        );
      }
      if (declaresNamespace(xml, at, i)) countNamespaceDeclaration(++state.declarations, limits);
    } else if (c === GT) {
      const selfClosing = xml.charCodeAt(i - 1) === SLASH;
      openOrClose(state, limits, closing, selfClosing);
      return i + 1;
    } else if (c === LT) {
      // Never well-formed; refused here, or the validator would read on to the next '>', however far.
      throw new BadRequestError('Malformed XML: "<" inside a tag');
    }
  }
  if (stop < xml.length) {
    throw new XmlLimitError('maxTagChars', `XML tag longer than ${limits.maxTagChars} characters (the limit)`);
  }
  return -1;
}

/** Whether the attribute whose `=` is at `eq` (in the tag starting at `tagStart`) is `xmlns` or `xmlns:*`. */
function declaresNamespace(xml: string, tagStart: number, eq: number): boolean {
  let end = eq;
  while (end > tagStart && isXmlSpace(xml.charCodeAt(end - 1))) end--;
  let start = end;
  while (start > tagStart && !isXmlSpace(xml.charCodeAt(start - 1))) start--;
  return xml.startsWith('xmlns', start) && (end - start === 5 || xml.charCodeAt(start + 5) === 0x3a);
}

function openOrClose(state: ScanState, limits: XmlLimits, closing: boolean, selfClosing: boolean): void {
  if (closing) {
    state.depth--;
    return;
  }
  countNode(state, limits);
  if (++state.elements > limits.maxElements) {
    throw new XmlTooLargeError('maxElements', `XML document has more than ${limits.maxElements} elements (the limit)`);
  }
  if (!selfClosing && ++state.depth > limits.maxDepth) {
    throw new XmlLimitError('maxDepth', `XML nesting deeper than ${limits.maxDepth} levels`);
  }
}

/**
 * One linear pass over the raw document, before any parser sees it: refuses a document over the
 * limits (node and element counts, depth, tag, name, attribute and text sizes, attributes per element)
 * with an XmlLimitError naming the limit. It does not check well-formedness: where it cannot make
 * sense of the markup it stops, and the parser's validator reports the error.
 */
export function checkXmlLimits(xml: string, limits: XmlLimits): void {
  const state: ScanState = { elements: 0, nodes: 0, depth: 0, declarations: 0 };
  let at = 0;
  while (at < xml.length) {
    const lt = xml.indexOf('<', at);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > at) {
      checkRun(limits, textEnd - at, 'text');
      if (!isWhiteSpace(xml, at, textEnd)) countNode(state, limits);
    }
    if (lt < 0) return;
    const next = xml.charCodeAt(lt + 1);
    at = next === 0x21 || next === 0x3f ? skipSpecial(xml, lt, limits, state) : scanTag(xml, lt, limits, state);
    if (at < 0) return;
  }
}

/** Counts a namespace declaration against the document's limit. */
export function countNamespaceDeclaration(count: number, limits: XmlLimits): void {
  if (count > limits.maxNamespaceDeclarations) {
    throw new XmlLimitError(
      'maxNamespaceDeclarations',
      `XML document has more than ${limits.maxNamespaceDeclarations} namespace declarations (the limit)`,
    );
  }
}

/** Refuses an element on which more namespace declarations are in force than the limit. */
export function checkNamespacesInScope(inScope: number, element: string, limits: XmlLimits): void {
  if (inScope > limits.maxNamespacesInScope) {
    throw new XmlLimitError(
      'maxNamespacesInScope',
      `XML element ${element} has more than ${limits.maxNamespacesInScope} namespace declarations in scope (the limit)`,
    );
  }
}

/** Refuses an attribute or element name longer than the limit. */
export function checkNameLength(qname: string, limits: XmlLimits): void {
  if (qname.length > limits.maxNameChars) {
    throw new XmlLimitError('maxNameChars', `XML name longer than ${limits.maxNameChars} characters (the limit)`);
  }
}
