import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { builder, create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces';
import { makeElement } from '../../../src/cpix/element-factory';
import { parseXml } from '../../../src/cpix/xml-parse';
import { serializeWithXmlbuilder, serializeXml } from '../../../src/cpix/xml-serialize';
import { writeDirect } from '../../../src/cpix/xml-write-direct';
import { isElement, type XmlElement } from '../../../src/cpix/xml-tree';
import { FIXTURES } from '../../helpers/fixtures';

/**
 * The serializer as it was built through xmlbuilder2's builder API (one XMLBuilder per element,
 * `att()` and `txt()`); the direct-DOM serializer must write exactly the same bytes.
 */
function referenceSerialize(root: XmlElement): string {
  const append = (parent: XMLBuilder, el: XmlElement): XMLBuilder => {
    const doc = parent.node.ownerDocument ?? (parent.node as NonNullable<typeof parent.node.ownerDocument>);
    const node = el.ns === '' ? doc.createElement(el.qname) : doc.createElementNS(el.ns, el.qname);
    parent.node.appendChild(node);
    const b = builder(parent.options, node);
    // Values escaped as serializeXml hands them over (xmlbuilder2 keeps reference-shaped `&`).
    const value = (v: string) => v.replace(/&/g, '&amp;').replace(/\r/g, '&#13;');
    const attrValue = (v: string) => value(v).replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');
    for (const a of el.attrs) b.att(a.ns === '' ? null : a.ns, a.qname, a.ns === XMLNS ? a.value : attrValue(a.value));
    for (const child of el.children) {
      if (isElement(child)) append(b, child);
      else b.txt(value(child.text));
    }
    return b;
  };
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  append(doc, root);
  return doc.end({ headless: false });
}

const XMLNS = 'http://www.w3.org/2000/xmlns/';

function xmlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return xmlFiles(full);
    return entry.name.endsWith('.xml') ? [full] : [];
  });
}

function parsed(xml: string): XmlElement | undefined {
  try {
    return parseXml(xml);
  } catch {
    return undefined;
  }
}

function elementsOf(root: XmlElement): XmlElement[] {
  return [root, ...root.children.filter(isElement).flatMap(elementsOf)];
}

const NAMESPACES = ['urn:dashif:org:cpix', 'urn:aws:amazon:com:speke', 'urn:x', 'urn:y', 'http://e.test/a?b=<c>&d'];
const PREFIXES = ['cpix', 'speke', 'a', 'b'];

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** A random element (as text) with default and prefixed namespace declarations, rebinding and escaping. */
function elementText(depth: number): fc.Arbitrary<string> {
  const text = fc.string({ maxLength: 8 }).map(escapeXml);
  const child = depth === 0 ? text : fc.oneof(text, elementText(depth - 1));
  return fc
    .record({
      prefix: fc.constantFrom('', ...PREFIXES),
      local: fc.constantFrom('CPIX', 'ContentKey', 'Data', 'r'),
      decls: fc.array(fc.tuple(fc.constantFrom('', ...PREFIXES), fc.constantFrom('', ...NAMESPACES)), { maxLength: 2 }),
      attrs: fc.uniqueArray(fc.tuple(fc.constantFrom('kid', 'id', 'a:x', 'b:y'), fc.string({ maxLength: 6 })), {
        maxLength: 3,
        selector: (a) => a[0],
      }),
      children: fc.array(child, { maxLength: 3 }),
    })
    .map(({ prefix, local, decls, attrs, children }) => {
      const name = prefix === '' ? local : `${prefix}:${local}`;
      const unique = new Map(decls.map(([p, ns]) => [p === '' ? 'xmlns' : `xmlns:${p}`, ns]));
      const declared = [...unique].filter(([n, ns]) => n === 'xmlns' || ns !== '');
      const attrText = [...declared, ...attrs].map(([n, v]) => ` ${n}="${escapeXml(v)}"`).join('');
      return `<${name}${attrText}>${children.join('')}</${name}>`;
    });
}

/** A random document: the element inside a root that binds the prefixes the attributes use. */
const documentText = elementText(3).map(
  (el) => `<w xmlns:a="urn:x" xmlns:b="urn:y" xmlns:cpix="urn:dashif:org:cpix">${el}</w>`,
);

describe('serializeXml (xmlbuilder2 DOM, built directly)', () => {
  it('writes exactly what the builder-API serializer wrote, for every fixture', () => {
    const roots = xmlFiles(FIXTURES)
      .map((file) => parsed(fs.readFileSync(file, 'utf8')))
      .filter((r): r is XmlElement => r !== undefined);
    expect(roots.length).toBeGreaterThan(700);
    for (const root of roots) expect(serializeXml(root)).toBe(referenceSerialize(root));
  });

  it('writes exactly what the builder-API serializer wrote, for random namespaced documents and fills', () => {
    fc.assert(
      fc.property(documentText, fc.array(fc.nat(), { maxLength: 3 }), (xml, picks) => {
        const root = parsed(xml);
        if (!root) return;
        const targets = elementsOf(root);
        for (const pick of picks) {
          const ns = NAMESPACES[pick % NAMESPACES.length] as string;
          targets[pick % targets.length]?.children.push(makeElement(root, ns, 'Filled', 'v<&>'));
        }
        expect(serializeXml(root)).toBe(referenceSerialize(root));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('what both writers write reads back as it was read', () => {
  const tricky = '<r a="1&amp;x;2&#9;3&#10;4&#13;5&#38;6"><t>a&amp;foo;b &amp;#38; &lt;x</t></r>';

  it.each([
    ['serializeXml', serializeXml],
    ['xmlbuilder2', serializeWithXmlbuilder],
  ])('%s keeps every & and white space character of text and attributes', (_, write) => {
    const root = parseXml(tricky);
    const again = parseXml(write(root));
    expect(again.attrs.map((a) => a.value)).toEqual(['1&x;2\t3\n4\r5&6']);
    expect(again.children).toEqual([expect.objectContaining({ children: [{ text: 'a&foo;b &#38; <x' }] })]);
  });
});

describe('writeDirect (the serializer without a DOM)', () => {
  const roots = () =>
    xmlFiles(FIXTURES)
      .map((file) => parsed(fs.readFileSync(file, 'utf8')))
      .filter((r): r is XmlElement => r !== undefined);

  it('writes every fixture itself, byte for byte as xmlbuilder2 does', () => {
    const all = roots();
    const direct = all.filter((root) => writeDirect(root) !== undefined);
    // The fast path must be the common path, or it saves nothing.
    expect(direct.length / all.length).toBeGreaterThan(0.95);
    for (const root of direct) expect(writeDirect(root)).toBe(serializeWithXmlbuilder(root));
  });

  it('gives up where xmlbuilder2 rewrites names: a redundant declaration, a prefix it would replace', () => {
    const redundant = parseXml('<a:r xmlns:a="urn:x"><a:c xmlns:a="urn:x"/></a:r>');
    expect(writeDirect(redundant)).toBeUndefined();
    expect(serializeXml(redundant)).toBe(serializeWithXmlbuilder(redundant));
    const defaulted = parseXml('<r xmlns="urn:x" xmlns:a="urn:x"><a:c/></r>');
    expect(writeDirect(defaulted)).toBeUndefined();
    expect(serializeXml(defaulted)).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><r xmlns="urn:x" xmlns:a="urn:x"><c/></r>',
    );
  });

  it('agrees with xmlbuilder2 on random namespaced documents whenever it writes them', () => {
    let written = 0;
    fc.assert(
      fc.property(documentText, (xml) => {
        const root = parsed(xml);
        const direct = root && writeDirect(root);
        if (root && direct !== undefined) {
          written++;
          expect(direct).toBe(serializeWithXmlbuilder(root));
        }
      }),
      { numRuns: 2000 },
    );
    expect(written).toBeGreaterThan(200);
  });
});
