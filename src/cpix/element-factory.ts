/**
 * Names for the elements a response builder adds to a request's tree: which prefix a new element in a
 * namespace gets, declaring one when the document has none. Two rules, each kept byte-for-byte from
 * the builder that uses it: the fillers use (or declare) the root's prefix, the document encryption
 * uses a prefix bound where the element goes and declares a non-shadowed one on the root otherwise.
 */
import { NS } from './namespaces';
import { isElement, type XmlAttribute, type XmlElement } from './xml-tree';

/** Prefixes new declarations start from (numbered on a clash). */
const PREFERRED_PREFIX: Record<string, string> = {
  [NS.cpix]: 'cpix',
  [NS.pskc]: 'pskc',
  [NS.speke]: 'speke',
  [NS.enc]: 'enc',
};

/** Finds the prefix the root binds to `ns`, declaring one on the root when there is none. */
function prefixFor(root: XmlElement, ns: string): string {
  const decl = root.attrs.find((a) => a.ns === NS.xmlns && a.value === ns);
  if (decl) return decl.qname === 'xmlns' ? '' : decl.local;
  if (root.ns === ns && !root.qname.includes(':')) return '';
  const base = PREFERRED_PREFIX[ns] ?? 'ns';
  let prefix = base;
  for (let i = 1; root.attrs.some((a) => a.ns === NS.xmlns && a.local === prefix); i++) prefix = `${base}${i}`;
  root.attrs.push({ qname: `xmlns:${prefix}`, ns: NS.xmlns, local: prefix, value: ns });
  return prefix;
}

/** Creates an element in `ns`, using (or declaring) the root's prefix for it. */
export function makeElement(root: XmlElement, ns: string, local: string, text?: string): XmlElement {
  const prefix = prefixFor(root, ns);
  return {
    qname: prefix === '' ? local : `${prefix}:${local}`,
    ns,
    local,
    attrs: [],
    children: text === undefined ? [] : [{ text }],
  };
}

/** True for `xmlns` and `xmlns:p` attributes. */
export function isNamespaceDeclaration(a: XmlAttribute): boolean {
  return a.qname === 'xmlns' || a.qname.startsWith('xmlns:');
}

function declaredPrefix(a: XmlAttribute): string {
  return a.qname === 'xmlns' ? '' : a.qname.slice('xmlns:'.length);
}

/** Prefix → URI bindings in scope inside the last element of `path` (root first). */
function bindingsAt(path: readonly XmlElement[]): Map<string, string> {
  const bindings = new Map<string, string>();
  for (const el of path)
    for (const a of el.attrs.filter(isNamespaceDeclaration)) bindings.set(declaredPrefix(a), a.value);
  return bindings;
}

/** Adds every prefix the subtree binds or uses for a namespace other than `ns`. */
function collectConflicts(el: XmlElement, ns: string, into: Set<string>): void {
  const prefixOf = (qname: string): string => (qname.includes(':') ? qname.slice(0, qname.indexOf(':')) : '');
  if (el.ns !== ns) into.add(prefixOf(el.qname));
  for (const a of el.attrs) {
    if (isNamespaceDeclaration(a)) {
      if (a.value !== ns) into.add(declaredPrefix(a));
    } else if (a.qname.includes(':') && a.ns !== ns) into.add(prefixOf(a.qname));
  }
  for (const child of el.children) if (isElement(child)) collectConflicts(child, ns, into);
}

/** Declares a prefix for `ns` on the root, one the document binds nowhere to anything else, so nothing shadows it. */
function declareOnRoot(root: XmlElement, ns: string): string {
  const taken = new Set<string>(['', 'xml', 'xmlns']);
  collectConflicts(root, ns, taken);
  const base = PREFERRED_PREFIX[ns] ?? 'ns';
  let prefix = base;
  for (let i = 1; taken.has(prefix); i++) prefix = `${base}${i}`;
  root.attrs.push({ qname: `xmlns:${prefix}`, ns: NS.xmlns, local: prefix, value: ns });
  return prefix;
}

/** Prefix to use for `ns` inside `path`: one already bound there (a named one first), else a new one on the root. */
function prefixAt(path: readonly XmlElement[], ns: string): string {
  const bindings = bindingsAt(path);
  const preferred = PREFERRED_PREFIX[ns];
  if (preferred !== undefined && bindings.get(preferred) === ns) return preferred;
  for (const [prefix, uri] of bindings) if (prefix !== '' && uri === ns) return prefix;
  if (bindings.get('') === ns) return '';
  return declareOnRoot(path[0] as XmlElement, ns);
}

/** A child given to an element factory: an element, or text. */
export type Child = XmlElement | string;

/** Makes a new element in `ns` with unprefixed attributes and children. */
export type Make = (ns: string, local: string, attrs?: Record<string, string>, children?: Child[]) => XmlElement;

/** An element factory for new elements that will be inserted under the last element of `path` (root first). */
export function factoryAt(path: readonly XmlElement[]): Make {
  return (ns, local, attrs = {}, children = []) => {
    const prefix = prefixAt(path, ns);
    return {
      qname: prefix === '' ? local : `${prefix}:${local}`,
      ns,
      local,
      attrs: Object.entries(attrs).map(([name, value]) => ({ qname: name, ns: '', local: name, value })),
      children: children.map((c) => (typeof c === 'string' ? { text: c } : c)),
    };
  };
}
