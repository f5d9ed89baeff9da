import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { BadRequestError } from '../errors';
import { NS } from './namespaces';
import {
  CPIX_REQUEST_LIMITS,
  checkNameLength,
  checkNamespacesInScope,
  checkXmlLimits,
  countNamespaceDeclaration,
  XmlLimitError,
  type XmlLimits,
} from './xml-limits';
import type { XmlAttribute, XmlElement, XmlNode } from './xml-tree';

const ATTR_PREFIX = '@_';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR_PREFIX,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes the five predefined XML entities and character references; anything else is rejected. */
function decodeEntities(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s]{1,10});/g, (_m, name: string) => {
    if (name in PREDEFINED) return PREDEFINED[name] as string;
    const code = name.startsWith('#x')
      ? parseInt(name.slice(2), 16)
      : name.startsWith('#')
        ? Number(name.slice(1))
        : NaN;
    if (!Number.isInteger(code) || code < 1 || code > 0x10ffff) {
      throw new BadRequestError(`Undefined XML entity reference &${name};`);
    }
    return String.fromCodePoint(code);
  });
}

/** Rejects DTDs outright: no external entities, no entity expansion, nothing fetched. */
function rejectDoctype(xml: string): void {
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) {
    throw new BadRequestError('DOCTYPE and ENTITY declarations are not allowed in CPIX documents');
  }
}

function checkWellFormed(xml: string): void {
  let result: ReturnType<typeof XMLValidator.validate>;
  try {
    result = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  } catch (err) {
    throw new BadRequestError(`Malformed XML: ${(err as Error).message}`);
  }
  if (result !== true) {
    throw new BadRequestError(`Malformed XML: ${result.err.msg} (line ${result.err.line}, column ${result.err.col})`);
  }
}

type RawNode = Record<string, unknown>;

/**
 * The namespace bindings in force on an element: its own declarations, then its parent's frame.
 * Elements that declare nothing share their parent's frame, so building scopes costs one small map
 * per declaring element (linear in the document) and a lookup walks at most `maxDepth` frames.
 */
interface Scope {
  readonly own: ReadonlyMap<string, string>;
  readonly parent?: Scope;
  /** Declarations in force: this frame's and every ancestor frame's. */
  readonly inScope: number;
}

/** What one parse has counted so far, and its limits. */
interface Walk {
  readonly limits: XmlLimits;
  declarations: number;
}

function splitName(qname: string): [string, string] {
  const i = qname.indexOf(':');
  return i < 0 ? ['', qname] : [qname.slice(0, i), qname.slice(i + 1)];
}

/**
 * Names that plain JavaScript objects already carry (`toString`, `constructor`, `__proto__`, ...). The
 * serializer (xmlbuilder2's namespace maps) keys plain objects by namespace URI and prefix, so such a URI
 * crashes it (a 500) and, as an attribute's namespace, would write into `Object` itself. No CPIX document
 * needs them, so they are refused up front.
 */
const OBJECT_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

function checkNotObjectKey(prefix: string, uri: string): void {
  if (OBJECT_KEYS.has(prefix)) throw new BadRequestError(`Namespace prefix "${prefix}" is not supported`);
  if (OBJECT_KEYS.has(uri)) throw new BadRequestError(`Namespace URI "${uri}" is not supported`);
}

function declare(scope: Scope, rawAttrs: Record<string, string>, element: string, walk: Walk): Scope {
  let own: Map<string, string> | undefined;
  for (const [key, value] of Object.entries(rawAttrs)) {
    const name = key.slice(ATTR_PREFIX.length);
    if (name !== 'xmlns' && !name.startsWith('xmlns:')) continue;
    countNamespaceDeclaration(++walk.declarations, walk.limits);
    const prefix = name === 'xmlns' ? '' : name.slice(6);
    const uri = decodeEntities(value);
    checkNotObjectKey(prefix, uri);
    own ??= new Map();
    own.set(prefix, uri);
  }
  if (!own) return scope;
  const inScope = scope.inScope + own.size;
  checkNamespacesInScope(inScope, element, walk.limits);
  return { own, parent: scope, inScope };
}

function lookup(scope: Scope, prefix: string): string | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const ns = s.own.get(prefix);
    if (ns !== undefined) return ns;
  }
  return undefined;
}

function resolve(scope: Scope, prefix: string, what: string): string {
  const ns = lookup(scope, prefix);
  if (ns === undefined) throw new BadRequestError(`Unbound namespace prefix "${prefix}" on ${what}`);
  return ns;
}

/** XML 1.0 QName (NCName, optionally prefixed). fast-xml-parser accepts more (e.g. `<!&#0;-- ...>`), so we check. */
const QNAME = /^[\p{L}_][\p{L}\p{N}_.-]*(:[\p{L}_][\p{L}\p{N}_.-]*)?$/u;

function checkName(qname: string, what: string, limits: XmlLimits): void {
  checkNameLength(qname, limits);
  if (!QNAME.test(qname)) throw new BadRequestError(`Malformed XML: invalid ${what} name "${qname.slice(0, 40)}"`);
}

function toAttrs(scope: Scope, rawAttrs: Record<string, string>, element: string, walk: Walk): XmlAttribute[] {
  const entries = Object.entries(rawAttrs);
  if (entries.length > walk.limits.maxAttributesPerElement) {
    throw new XmlLimitError(
      'maxAttributesPerElement',
      `XML element ${element} has more than ${walk.limits.maxAttributesPerElement} attributes (the limit)`,
    );
  }
  return entries.map(([key, raw]) => {
    const qname = key.slice(ATTR_PREFIX.length);
    checkName(qname, 'attribute', walk.limits);
    const [prefix, local] = splitName(qname);
    const value = decodeEntities(raw);
    if (qname === 'xmlns' || prefix === 'xmlns') return { qname, ns: NS.xmlns, local, value };
    if (prefix === '') return { qname, ns: '', local, value };
    const ns = prefix === 'xml' ? NS.xml : resolve(scope, prefix, `attribute ${qname} of ${element}`);
    return { qname, ns, local, value };
  });
}

function toElement(raw: RawNode, scope: Scope, depth: number, walk: Walk): XmlElement {
  const { maxDepth } = walk.limits;
  if (depth > maxDepth) throw new XmlLimitError('maxDepth', `XML nesting deeper than ${maxDepth} levels`);
  const qname = Object.keys(raw).find((k) => k !== ':@') as string;
  checkName(qname, 'element', walk.limits);
  const rawAttrs = (raw[':@'] ?? {}) as Record<string, string>;
  const inner = declare(scope, rawAttrs, qname, walk);
  const [prefix, local] = splitName(qname);
  const ns = prefix === '' ? (lookup(inner, '') ?? '') : resolve(inner, prefix, `element ${qname}`);
  const children: XmlNode[] = [];
  for (const child of raw[qname] as RawNode[]) {
    if ('#text' in child) children.push({ text: decodeEntities(String(child['#text'])) });
    else children.push(toElement(child, inner, depth + 1, walk));
  }
  return { qname, ns, local, attrs: toAttrs(inner, rawAttrs, qname, walk), children };
}

/**
 * Parses an XML document into a namespace-resolved tree. Pure and defensive: rejects DTDs,
 * undefined entities and unbound prefixes with a BadRequestError naming the problem, and a document
 * over `limits` (default: the request limits) with an XmlLimitError naming the limit, before the
 * parser's own validator sees it. Every step is linear in the document's length.
 */
export function parseXml(xml: string, limits: XmlLimits = CPIX_REQUEST_LIMITS): XmlElement {
  rejectDoctype(xml);
  checkXmlLimits(xml, limits);
  checkWellFormed(xml);
  let raw: RawNode[];
  try {
    raw = parser.parse(xml) as RawNode[];
  } catch (err) {
    throw new BadRequestError(`Malformed XML: ${(err as Error).message}`);
  }
  const roots = raw.filter((n) => !('#text' in n));
  if (roots.length !== 1) throw new BadRequestError('XML document must have exactly one root element');
  const top: Scope = { own: new Map([['xml', NS.xml]]), inScope: 0 };
  return toElement(roots[0] as RawNode, top, 0, { limits, declarations: 0 });
}
