import { BadRequestError } from '../../../src/errors';
import { parseXml } from '../../../src/cpix/xml-parse';
import { isElement, textOf, type XmlElement } from '../../../src/cpix/xml-tree';

const child = (el: XmlElement, i = 0) => el.children.filter(isElement)[i] as XmlElement;

describe('the single-pass XML reader', () => {
  it('builds the namespace-resolved tree: default and prefixed namespaces, attributes as written', () => {
    const root = parseXml(
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><r xmlns="urn:d" xmlns:p="urn:p" a="1" p:b=\'2\'><p:c/><d>t</d></r>\n<?pi x?>\n',
    );
    expect(root).toMatchObject({ qname: 'r', ns: 'urn:d', local: 'r' });
    expect(root.attrs.map((a) => [a.qname, a.ns, a.value])).toEqual([
      ['xmlns', 'http://www.w3.org/2000/xmlns/', 'urn:d'],
      ['xmlns:p', 'http://www.w3.org/2000/xmlns/', 'urn:p'],
      ['a', '', '1'],
      ['p:b', 'urn:p', '2'],
    ]);
    expect(child(root)).toMatchObject({ qname: 'p:c', ns: 'urn:p', local: 'c', children: [] });
    expect(child(root, 1)).toMatchObject({ ns: 'urn:d', children: [{ text: 't' }] });
  });

  it('decodes references, merges CDATA and text across comments, trims, and drops white space', () => {
    const root = parseXml('<r>\r\n  a &amp; &#x41;&#66; <![CDATA[<b>&amp;]]><!-- x --> c\r\n <e/>  \n </r>');
    expect(root.children).toEqual([{ text: 'a & AB <b>&amp; c' }, expect.objectContaining({ local: 'e' })]);
    expect(textOf(parseXml('<r>x\r\ny\rz</r>'))).toBe('x\ny\nz');
  });

  it('normalizes white space in attribute values, but not what a character reference names', () => {
    const root = parseXml('<r a="x\ty\r\nz&#10;"/>');
    expect(root.attrs[0]?.value).toBe('x y z\n');
  });

  it.each([
    ['<r><a></r>', 'closing tag </r> does not match <a> (line 1, column 7)'],
    ['<r>\n  <a>\n</r>', 'closing tag </r> does not match <a> (line 3, column 1)'],
    ['<r>', 'element <r> is not closed'],
    ['</r>', 'closing tag </r> has no open element'],
    ['<r a="1" a="2"/>', 'attribute a repeated on <r>'],
    ['<r a="1"b="2"/>', 'unexpected character "b" in tag <r>'],
    ['<r a/>', 'attribute a of <r> has no value'],
    ['<r a=1/>', 'value of attribute a is not quoted'],
    ['<r a="<"/>', '"<" in the value of attribute a'],
    ['<r>a & b</r>', '"&" is not the start of an entity or character reference'],
    ['<r>&nbsp;</r>', 'undefined entity reference &nbsp;'],
    ['<r>&#0;</r>', 'character reference &#0; names no XML character'],
    ['<r>&#x41g;</r>', 'character reference &#x41g; names no XML character'],
    ['<r>a]]>b</r>', '"]]>" is not allowed in text'],
    ['<r><!-- a -- b --></r>', '"--" inside a comment'],
    ['<r><!-- a ---></r>', '"--" inside a comment'],
    ['<r><!-- a </r>', 'comment is not closed'],
    ['<r><![CDATA[ a </r>', 'CDATA section is not closed'],
    ['<![CDATA[x]]><r/>', 'CDATA section outside the root element'],
    ['x<r/>', 'text outside the root element'],
    ['<r/>x', 'text outside the root element'],
    ['<r/><?xml version="1.0"?>', 'XML declaration allowed only at the start of the document'],
    ['<?xml encoding="UTF-8"?><r/>', 'XML declaration has no valid version'],
    ['<r>\u0001</r>', 'character U+0001 is not allowed'],
    ['<r><!ELEMENT r ANY></r>', 'unexpected markup "<!ELEMENT r "'],
    ['<r><1a/></r>', 'invalid element name "1a"'],
    ['<r a="1" / >', 'unexpected character "/" in tag <r>'],
  ])('refuses %j: %s', (xml, message) => {
    const read = () => parseXml(xml);
    expect(read).toThrow(BadRequestError);
    expect(read).toThrow(message);
  });

  it.each([
    ['', 'XML document must have exactly one root element'],
    ['<!-- only a comment -->', 'XML document must have exactly one root element'],
    ['<a/><b/>', 'XML document must have exactly one root element'],
    ['<r><p:a/></r>', 'Unbound namespace prefix "p" on element p:a'],
    ['<r p:a="1"/>', 'Unbound namespace prefix "p" on attribute p:a of r'],
    ['<r xmlns:p=""/>', 'Namespace declaration xmlns:p on r is empty'],
    ['<r xmlns:constructor="urn:x"/>', 'Namespace prefix "constructor" is not supported'],
    ['<r xmlns:q="http://www.w3.org/2000/xmlns/"/>', 'Namespace declaration xmlns:q on r binds a reserved name'],
    ['<r xmlns:xmlns="urn:x"/>', 'Namespace declaration xmlns:xmlns on r binds a reserved name'],
    ['<r xmlns:xml="urn:x"/>', 'Namespace declaration xmlns:xml on r binds a reserved name'],
    ['<r xmlns:p="http://www.w3.org/XML/1998/namespace"/>', 'Namespace declaration xmlns:p on r binds a reserved name'],
    ['<r xmlns:x="urn:x&amp;foo;"/>', 'Namespace declaration xmlns:x on r holds &, a tab or a line end'],
    ['<r xmlns="urn:a&#9;b"/>', 'Namespace declaration xmlns on r holds &, a tab or a line end'],
  ])('refuses %j: %s', (xml, message) => {
    expect(() => parseXml(xml)).toThrow(message);
  });

  it('accepts the xml prefix declared to its own namespace', () => {
    expect(() => parseXml('<r xmlns:xml="http://www.w3.org/XML/1998/namespace"/>')).not.toThrow();
  });
});
