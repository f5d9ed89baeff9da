/**
 * The common case of serializing a tree, written straight to a string: every element and attribute
 * keeps the prefix it carries, because that prefix is bound to its namespace where it stands. That is
 * what xmlbuilder2's namespace-aware serializer (the W3C "XML serialization" algorithm) writes too, but
 * without building a DOM, validating names and copying a prefix map per element, which took a tenth of
 * a SPEKE request. Anything the algorithm would rewrite (an element it would write with another prefix
 * or an added declaration, a declaration it would drop) makes this give up (undefined), and the caller
 * serializes through xmlbuilder2 instead; `test/unit/cpix/xml-serialize.test.ts` checks both write the
 * same bytes for every fixture and for random namespaced documents.
 */
import { NS } from './namespaces';
import { escapeXmlAttribute as escapeAttr, escapeXmlText as escapeText } from './xml-text';
import { isElement, type XmlElement } from './xml-tree';

/**
 * The serializer's namespace prefix map, with its semantics: namespace (null: none) → prefixes in the
 * order they were bound, never unbound. Copied on write, only by elements that declare a prefix.
 */
class PrefixMap {
  constructor(private readonly items: Map<string | null, string[]>) {}

  static initial(): PrefixMap {
    return new PrefixMap(new Map([[NS.xml, ['xml']]]));
  }

  has(prefix: string, ns: string | null): boolean {
    return this.items.get(ns)?.includes(prefix) === true;
  }

  with(prefix: string, ns: string | null): PrefixMap {
    const items = new Map(this.items);
    items.set(ns, [...(items.get(ns) ?? []), prefix]);
    return new PrefixMap(items);
  }
}

/** What the two writers would write differently in a namespace declaration's value. */
const REFERENCE_OR_WHITESPACE = /[\t\n\r]|&(?:[A-Za-z]+;|#\d+;)/;

/** Thrown inside the writer when the tree needs the full algorithm. */
const GIVE_UP = Symbol('give up');

const prefixOf = (qname: string): string | null => {
  const colon = qname.indexOf(':');
  return colon === -1 ? null : qname.slice(0, colon);
};

/** Records the element's declarations as the algorithm does; gives up on one it would drop. */
function declarations(el: XmlElement, inherited: PrefixMap): { map: PrefixMap; localDefault: string | null } {
  let map = inherited;
  let localDefault: string | null = null;
  for (const a of el.attrs) {
    if (a.ns !== NS.xmlns) continue;
    if (a.qname === 'xmlns') {
      localDefault = a.value;
      continue;
    }
    if (a.value === NS.xml || a.value === '' || map.has(a.local, a.value)) throw GIVE_UP;
    // xmlbuilder2 writes a namespace URI as given; this writer would escape a reference-shaped `&` in it.
    if (REFERENCE_OR_WHITESPACE.test(a.value)) throw GIVE_UP;
    map = map.with(a.local, a.value);
  }
  return { map, localDefault };
}

function write(el: XmlElement, context: string | null, inherited: PrefixMap, out: string[]): void {
  const { map, localDefault } = declarations(el, inherited);
  const ns = el.ns === '' ? null : el.ns;
  const prefix = prefixOf(el.qname);
  let childContext = context;
  if (ns === NS.xml || prefix === 'xmlns') throw GIVE_UP;
  if (context === ns) {
    if (prefix !== null || localDefault !== null) throw GIVE_UP;
  } else if (prefix !== null) {
    if (!map.has(prefix, ns)) throw GIVE_UP;
    if (localDefault !== null) childContext = localDefault === '' ? null : localDefault;
  } else {
    if (localDefault === null || localDefault !== ns) throw GIVE_UP;
    childContext = ns;
  }
  out.push('<', el.qname);
  for (const a of el.attrs) {
    if (a.ns !== '' && a.ns !== NS.xmlns) {
      const attrPrefix = prefixOf(a.qname);
      if (attrPrefix === null || !map.has(attrPrefix, a.ns)) throw GIVE_UP;
    } else if (a.ns === '' && a.qname !== a.local) throw GIVE_UP;
    out.push(' ', a.qname, '="', escapeAttr(a.value), '"');
  }
  if (el.children.length === 0) {
    out.push('/>');
    return;
  }
  out.push('>');
  for (const child of el.children) {
    if (isElement(child)) write(child, childContext, map, out);
    else out.push(escapeText(child.text));
  }
  out.push('</', el.qname, '>');
}

/** The document as xmlbuilder2 would write it (declaration, no pretty printing), or undefined when it would rewrite names. */
export function writeDirect(root: XmlElement): string | undefined {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  try {
    write(root, null, PrefixMap.initial(), out);
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
  return out.join('');
}
