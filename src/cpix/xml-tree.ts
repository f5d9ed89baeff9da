/**
 * A namespace-resolved XML element tree. The CPIX parser produces it, the filler edits it,
 * the serializer writes it back, so everything the encoder sent survives the round trip.
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
export interface XmlText {
  text: string;
}

/** Element or text. */
export type XmlNode = XmlElement | XmlText;

/** Narrows a node to an element. */
export function isElement(node: XmlNode): node is XmlElement {
  return (node as XmlElement).local !== undefined;
}

/** Child elements with the given namespace and local name. */
export function childElements(parent: XmlElement, ns: string, local: string): XmlElement[] {
  return parent.children.filter((c): c is XmlElement => isElement(c) && c.ns === ns && c.local === local);
}

/** First child element with the given namespace and local name. */
export function firstChild(parent: XmlElement, ns: string, local: string): XmlElement | undefined {
  return childElements(parent, ns, local)[0];
}

/** Value of an unprefixed attribute, or undefined. */
export function attr(el: XmlElement, local: string): string | undefined {
  return el.attrs.find((a) => a.ns === '' && a.local === local)?.value;
}

/** Sets (or adds) an unprefixed attribute. */
export function setAttr(el: XmlElement, local: string, value: string): void {
  const existing = el.attrs.find((a) => a.ns === '' && a.local === local);
  if (existing) existing.value = value;
  else el.attrs.push({ qname: local, ns: '', local, value });
}

/** Concatenated text content of an element's direct text children. */
export function textOf(el: XmlElement): string {
  return el.children
    .filter((c): c is XmlText => !isElement(c))
    .map((c) => c.text)
    .join('');
}
