import { builder, create } from 'xmlbuilder2';
import type { XMLBuilder, XMLBuilderOptions } from 'xmlbuilder2/lib/interfaces';
import { NS } from './namespaces';
import { writeDirect } from './xml-write-direct';
import { isElement, type XmlAttribute, type XmlElement } from './xml-tree';

type DomNode = XMLBuilder['node'];
type DomDocument = NonNullable<DomNode['ownerDocument']>;
type DomElement = ReturnType<DomDocument['createElementNS']>;

const ELEMENT_NODE = 1;
const DOCUMENT_NODE = 9;

function isDocument(node: DomNode): node is DomDocument {
  return node.nodeType === DOCUMENT_NODE;
}

function isDomElement(node: DomNode): node is DomElement {
  return node.nodeType === ELEMENT_NODE;
}

const isDeclaration = (a: XmlAttribute): boolean => a.ns === NS.xmlns;

/**
 * xmlbuilder2's serializer keeps an `&` that starts something shaped like a reference (`&foo;`, `&#9;`),
 * so a value it is given is escaped as our writer escapes it first: `&amp;` and character references
 * then pass through unchanged, `<`, `>` and `"` are left to the serializer.
 */
const forSerializer = (s: string): string => s.replace(/&/g, '&amp;').replace(/\r/g, '&#13;');
const attributeForSerializer = (s: string): string => forSerializer(s).replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');

function setAttribute(node: DomElement, a: XmlAttribute): void {
  // A declaration's value is the namespace itself, which the serializer compares with element namespaces.
  const value = isDeclaration(a) ? a.value : attributeForSerializer(a.value);
  node.setAttributeNS(a.ns === '' ? null : a.ns, a.qname, value);
}

/**
 * Sets the attributes of a no-namespace element that declares namespaces (`xmlns=""`, `xmlns:p=""`)
 * through `XMLBuilder.att()`, which re-creates the element in the "" namespace so the serializer keeps
 * the declaration as sent. Returns the element as it now stands in the tree.
 */
function declareOnNoNamespaceElement(options: XMLBuilderOptions, node: DomElement, el: XmlElement): DomElement {
  const b = builder(options, node);
  for (const a of el.attrs) {
    if (isDeclaration(a)) b.att(a.ns, a.qname, a.value);
    else if (isDomElement(b.node)) setAttribute(b.node, a);
  }
  if (!isDomElement(b.node)) throw new Error('xmlbuilder2 replaced an element with a non-element');
  return b.node;
}

/**
 * Appends the element to `parent` in xmlbuilder2's DOM directly: the tree already carries resolved
 * namespaces, so no builder wrapper, option merge or namespace lookup per node. (`XMLBuilder.ele(ns, …)`
 * would also read a namespace URI starting with `<`, `{` or `[` as a document to import, and
 * `att(ns, …)` one starting with `@` as an alias; a request can declare any URI.)
 */
function append(options: XMLBuilderOptions, doc: DomDocument, parent: DomNode, el: XmlElement): void {
  let node = el.ns === '' ? doc.createElement(el.qname) : doc.createElementNS(el.ns, el.qname);
  parent.appendChild(node);
  if (el.ns === '' && el.attrs.some(isDeclaration)) node = declareOnNoNamespaceElement(options, node, el);
  else for (const a of el.attrs) setAttribute(node, a);
  for (const child of el.children) {
    if (isElement(child)) append(options, doc, node, child);
    else node.appendChild(doc.createTextNode(forSerializer(child.text)));
  }
}

/**
 * Writes an element tree back to an XML document string (UTF-8 declaration, no pretty printing): directly
 * when every name keeps its prefix (see writeDirect), else through xmlbuilder2's namespace fix-ups.
 */
export function serializeXml(root: XmlElement): string {
  return writeDirect(root) ?? serializeWithXmlbuilder(root);
}

/** The xmlbuilder2 serialization: a DOM built directly, then its namespace-aware serializer. */
export function serializeWithXmlbuilder(root: XmlElement): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  if (!isDocument(doc.node)) throw new Error('xmlbuilder2 create() did not return a document');
  append(doc.options, doc.node, doc.node, root);
  return doc.end({ headless: false });
}
