/**
 * A namespace-resolved XML element tree. The CPIX parser produces it, the response builders edit a
 * copy of it, the serializer writes it back, so everything the encoder sent survives the round trip.
 * A parsed request's tree is read-only (`ReadonlyXmlElement`: enforced by the compiler, not frozen at run
 * time, which cost every request time); `cloneTree` gives an editable copy.
 */
export interface XmlAttribute {
  /** Qualified name as written, e.g. `kid` or `xmlns:cpix`. */
  qname: string;
  /** Namespace URI of the attribute (empty for unprefixed attributes). */
  ns: string;
  /** Local name, e.g. `kid`. */
  local: string;
  value: string;
}

/** An element: qualified name as written plus its resolved namespace. */
export interface XmlElement {
  qname: string;
  ns: string;
  local: string;
  attrs: XmlAttribute[];
  children: XmlNode[];
}

/** A text run (entity references already decoded). */
interface XmlText {
  text: string;
}

/** Element or text. */
export type XmlNode = XmlElement | XmlText;

/** An attribute of a read-only tree. */
type ReadonlyXmlAttribute = Readonly<XmlAttribute>;

/** A text run of a read-only tree. */
type ReadonlyXmlText = Readonly<XmlText>;

/** An element of a read-only tree (a parsed request's): readers take this, so they accept both kinds. */
export interface ReadonlyXmlElement {
  readonly qname: string;
  readonly ns: string;
  readonly local: string;
  readonly attrs: readonly ReadonlyXmlAttribute[];
  readonly children: readonly ReadonlyXmlNode[];
}

/** Element or text of a read-only tree. */
type ReadonlyXmlNode = ReadonlyXmlElement | ReadonlyXmlText;

/** Narrows a node to an element (an editable one for an editable tree, a read-only one otherwise). */
export function isElement<N extends ReadonlyXmlNode>(node: N): node is Extract<N, ReadonlyXmlElement> {
  return (node as ReadonlyXmlElement).local !== undefined;
}

/** Child elements with the given namespace and local name. */
export function childElements(parent: XmlElement, ns: string, local: string): XmlElement[];
export function childElements(parent: ReadonlyXmlElement, ns: string, local: string): ReadonlyXmlElement[];
export function childElements(parent: ReadonlyXmlElement, ns: string, local: string): ReadonlyXmlElement[] {
  return parent.children.filter((c): c is ReadonlyXmlElement => isElement(c) && c.ns === ns && c.local === local);
}

/** First child element with the given namespace and local name. */
export function firstChild(parent: XmlElement, ns: string, local: string): XmlElement | undefined;
export function firstChild(parent: ReadonlyXmlElement, ns: string, local: string): ReadonlyXmlElement | undefined;
export function firstChild(parent: ReadonlyXmlElement, ns: string, local: string): ReadonlyXmlElement | undefined {
  return childElements(parent, ns, local)[0];
}

/** Value of an unprefixed attribute, or undefined. */
export function attr(el: ReadonlyXmlElement, local: string): string | undefined {
  return el.attrs.find((a) => a.ns === '' && a.local === local)?.value;
}

/** Sets (or adds) an unprefixed attribute. */
export function setAttr(el: XmlElement, local: string, value: string): void {
  const existing = el.attrs.find((a) => a.ns === '' && a.local === local);
  if (existing) existing.value = value;
  else el.attrs.push({ qname: local, ns: '', local, value });
}

/** Concatenated text content of an element's direct text children. */
export function textOf(el: ReadonlyXmlElement): string {
  return el.children
    .filter((c): c is ReadonlyXmlText => !isElement(c))
    .map((c) => c.text)
    .join('');
}

/** An editable copy of a tree, and the way from an element of the original to its copy. */
interface TreeCopy {
  root: XmlElement;
  /** The copy of an element of the original tree; throws for an element from elsewhere. */
  copyOf(original: ReadonlyXmlElement): XmlElement;
}

/**
 * Copies a tree (elements, attributes, text) so a response can be built from a parsed request
 * without touching it: the request stays as parsed, and can be answered again. `wanted` limits which
 * originals `copyOf` can map (the elements a filler edits), so the copy needs no map of every element.
 */
export function cloneTree(root: ReadonlyXmlElement, wanted?: ReadonlySet<ReadonlyXmlElement>): TreeCopy {
  const copies = new Map<ReadonlyXmlElement, XmlElement>();
  const copy = (el: ReadonlyXmlElement): XmlElement => {
    const attrs: XmlAttribute[] = new Array<XmlAttribute>(el.attrs.length);
    for (let i = 0; i < el.attrs.length; i++) {
      const a = el.attrs[i] as ReadonlyXmlAttribute;
      attrs[i] = { qname: a.qname, ns: a.ns, local: a.local, value: a.value };
    }
    const children: XmlNode[] = new Array<XmlNode>(el.children.length);
    for (let i = 0; i < el.children.length; i++) {
      const c = el.children[i] as ReadonlyXmlNode;
      children[i] = isElement(c) ? copy(c) : { text: c.text };
    }
    const out: XmlElement = { qname: el.qname, ns: el.ns, local: el.local, attrs, children };
    if (wanted === undefined || wanted.has(el)) copies.set(el, out);
    return out;
  };
  const copied = copy(root);
  return {
    root: copied,
    copyOf(original) {
      const found = copies.get(original);
      if (!found) throw new Error('cloneTree: the element is not part of the copied tree');
      return found;
    },
  };
}
