import { BadRequestError } from '../errors';
import { NS } from './namespaces';
import { checkNameLength, checkNamespacesInScope, countNamespaceDeclaration, type XmlLimits } from './xml-limits';
import type { XmlAttribute } from './xml-tree';

/**
 * The namespace bindings in force on an element: its own declarations, then its parent's frame.
 * Elements that declare nothing share their parent's frame, so building scopes costs one small map
 * per declaring element (linear in the document) and a lookup walks at most `maxDepth` frames.
 */
export interface Scope {
  readonly own: ReadonlyMap<string, string>;
  readonly parent?: Scope;
  /** Declarations in force: this frame's and every ancestor frame's. */
  readonly inScope: number;
}

/** The frame above the root: only the `xml` prefix, which XML binds without a declaration. */
export function topScope(): Scope {
  return { own: new Map([['xml', NS.xml]]), inScope: 0 };
}

/** An attribute as written: its qualified name and its value, entity references decoded. */
export interface RawAttribute {
  qname: string;
  value: string;
}

/** What one parse has counted so far, and its limits. */
export interface NamespaceWalk {
  readonly limits: XmlLimits;
  declarations: number;
}

/**
 * Names that plain JavaScript objects already carry (`toString`, `constructor`, `__proto__`, ...). Code
 * that keys plain objects by namespace URI or prefix (xmlbuilder2's namespace maps, for one) would crash
 * on them or, as an attribute's namespace, write into `Object` itself. No CPIX document needs them, so
 * they are refused up front.
 */
const OBJECT_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

function checkNotObjectKey(prefix: string, uri: string): void {
  if (OBJECT_KEYS.has(prefix)) throw new BadRequestError(`Namespace prefix "${prefix}" is not supported`);
  if (OBJECT_KEYS.has(uri)) throw new BadRequestError(`Namespace URI "${uri}" is not supported`);
}

/**
 * Declarations Namespaces in XML forbids (binding `xmlns`, or `xml` to another URI, or either URI to
 * another prefix), and URIs holding `&` or a tab or line end: no CPIX namespace has them, and a response
 * echoing them could not be written back as the same well-formed declaration.
 */
function checkDeclarable(qname: string, prefix: string, uri: string, element: string): void {
  const reserved = prefix === 'xmlns' || uri === NS.xmlns || (prefix === 'xml') !== (uri === NS.xml);
  if (reserved) throw new BadRequestError(`Namespace declaration ${qname} on ${element} binds a reserved name`);
  if (/[&\t\n\r]/.test(uri)) {
    throw new BadRequestError(
      `Namespace declaration ${qname} on ${element} holds &, a tab or a line end, which no namespace URI here needs`,
    );
  }
}

/** The scope inside an element: its parent's, plus the element's own `xmlns` and `xmlns:p` declarations. */
export function declare(scope: Scope, attrs: readonly RawAttribute[], element: string, walk: NamespaceWalk): Scope {
  let own: Map<string, string> | undefined;
  for (const { qname, value } of attrs) {
    if (!qname.startsWith('xmlns') || (qname.length > 5 && qname.charCodeAt(5) !== 0x3a)) continue;
    countNamespaceDeclaration(++walk.declarations, walk.limits);
    const prefix = qname.length === 5 ? '' : qname.slice(6);
    checkNotObjectKey(prefix, value);
    checkDeclarable(qname, prefix, value, element);
    if (prefix !== '' && value === '') {
      throw new BadRequestError(
        `Namespace declaration ${qname} on ${element} is empty (only the default namespace can be)`,
      );
    }
    own ??= new Map();
    own.set(prefix, value);
  }
  if (!own) return scope;
  const inScope = scope.inScope + own.size;
  checkNamespacesInScope(inScope, element, walk.limits);
  return { own, parent: scope, inScope };
}

/** The URI bound to `prefix` ('' for the default namespace) in `scope`, if any. */
export function lookup(scope: Scope, prefix: string): string | undefined {
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

/** XML 1.0 QName (NCName, optionally prefixed). */
const QNAME = /^[\p{L}_][\p{L}\p{N}_.-]*(:[\p{L}_][\p{L}\p{N}_.-]*)?$/u;

/** Refuses a name that is not an XML QName, or is longer than the limit. */
export function checkName(qname: string, what: string, limits: XmlLimits): void {
  checkNameLength(qname, limits);
  if (!QNAME.test(qname)) throw new BadRequestError(`Malformed XML: invalid ${what} name "${qname.slice(0, 40)}"`);
}

/** Splits a QName into prefix ('' when unprefixed) and local name. */
export function splitName(qname: string): [string, string] {
  const i = qname.indexOf(':');
  return i < 0 ? ['', qname] : [qname.slice(0, i), qname.slice(i + 1)];
}

/** An element's namespace URI ('' for none) in the scope inside it. */
export function elementNamespace(scope: Scope, prefix: string, qname: string): string {
  return prefix === '' ? (lookup(scope, '') ?? '') : resolve(scope, prefix, `element ${qname}`);
}

/** Resolves an element's attributes in the scope inside it (unprefixed attributes have no namespace). */
export function resolveAttributes(scope: Scope, attrs: readonly RawAttribute[], element: string): XmlAttribute[] {
  const out = new Array<XmlAttribute>(attrs.length);
  for (let i = 0; i < attrs.length; i++) {
    const { qname, value } = attrs[i] as RawAttribute;
    const [prefix, local] = splitName(qname);
    let ns = '';
    if (qname === 'xmlns' || prefix === 'xmlns') ns = NS.xmlns;
    else if (prefix === 'xml') ns = NS.xml;
    else if (prefix !== '') ns = resolve(scope, prefix, `attribute ${qname} of ${element}`);
    out[i] = { qname, ns, local, value };
  }
  return out;
}
