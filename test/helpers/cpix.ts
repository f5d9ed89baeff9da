import { parseXml } from '../../src/cpix/xml-parse';
import { NS } from '../../src/cpix/namespaces';
import { attr, childElements, firstChild, isElement, textOf, type XmlElement } from '../../src/cpix/xml-tree';

/** All descendant elements with the given namespace and local name. */
export function findAll(root: XmlElement, ns: string, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (el: XmlElement) => {
    if (el.ns === ns && el.local === local) out.push(el);
    el.children.filter(isElement).forEach(walk);
  };
  walk(root);
  return out;
}

/** What a test reads back from a filled CPIX response. */
export interface ResponseKey {
  kid: string;
  key: Buffer;
  iv: Buffer;
}

/** Reads keys (PlainValue) and IVs from a response document. */
export function responseKeys(xml: string): Map<string, ResponseKey> {
  const root = parseXml(xml);
  const list = firstChild(root, NS.cpix, 'ContentKeyList') as XmlElement;
  const keys = new Map<string, ResponseKey>();
  for (const ck of childElements(list, NS.cpix, 'ContentKey')) {
    const plain = findAll(ck, NS.pskc, 'PlainValue')[0];
    const kid = (attr(ck, 'kid') as string).toLowerCase();
    keys.set(kid, {
      kid,
      key: Buffer.from(plain ? textOf(plain) : '', 'base64'),
      iv: Buffer.from(attr(ck, 'explicitIV') ?? '', 'base64'),
    });
  }
  return keys;
}

/** Decoded text of a DRMSystem child (base64 → UTF-8) for the DRMSystem with the given KID. */
export function drmField(xml: string, kid: string, ns: string, local: string): string | undefined {
  const root = parseXml(xml);
  const drm = findAll(root, NS.cpix, 'DRMSystem').find((d) => attr(d, 'kid')?.toLowerCase() === kid);
  const el = drm && firstChild(drm, ns, local);
  return el && Buffer.from(textOf(el), 'base64').toString('utf8');
}
