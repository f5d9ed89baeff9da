import { builder, create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces';
import { isElement, type XmlElement } from './xml-tree';

/**
 * Appends an element through the DOM. `XMLBuilder.ele(namespace, name)` would read a namespace URI
 * that starts with `<`, `{` or `[` as an XML/JSON document to import (a request can declare any URI).
 */
function appendElement(parent: XMLBuilder, el: XmlElement): XMLBuilder {
  const doc = parent.node.ownerDocument ?? (parent.node as unknown as NonNullable<typeof parent.node.ownerDocument>);
  const node = el.ns === '' ? doc.createElement(el.qname) : doc.createElementNS(el.ns, el.qname);
  parent.node.appendChild(node);
  return builder(parent.options, node);
}

function addChildren(target: XMLBuilder, el: XmlElement): void {
  for (const child of el.children) {
    if (!isElement(child)) {
      target.txt(child.text);
      continue;
    }
    const node = appendElement(target, child);
    addAttributes(node, child);
    addChildren(node, child);
  }
}

function addAttributes(node: XMLBuilder, el: XmlElement): void {
  for (const a of el.attrs) node.att(a.ns === '' ? null : a.ns, a.qname, a.value);
}

/** Writes an element tree back to an XML document string (UTF-8 declaration, no pretty printing). */
export function serializeXml(root: XmlElement): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const node = appendElement(doc, root);
  addAttributes(node, root);
  addChildren(node, root);
  return doc.end({ headless: false });
}
