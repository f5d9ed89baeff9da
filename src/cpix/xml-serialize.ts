import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces';
import { isElement, type XmlElement } from './xml-tree';

function addChildren(target: XMLBuilder, el: XmlElement): void {
  for (const child of el.children) {
    if (!isElement(child)) {
      target.txt(child.text);
      continue;
    }
    const node = target.ele(child.ns === '' ? null : child.ns, child.qname);
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
  const node = doc.ele(root.ns === '' ? null : root.ns, root.qname);
  addAttributes(node, root);
  addChildren(node, root);
  return doc.end({ headless: false });
}
