import { InvalidResponseError } from '../../../src/cli/cli-errors';
import { parseResponseXml } from '../../../src/cli/cpix-response-reader';
import { BadRequestError } from '../../../src/errors';
import {
  CPIX_REQUEST_LIMITS,
  MAX_XML_ATTRIBUTES_PER_ELEMENT,
  MAX_XML_ATTRIBUTE_VALUE_CHARS,
  MAX_XML_ELEMENTS,
  MAX_XML_NAME_CHARS,
  MAX_XML_NAMESPACES_IN_SCOPE,
  MAX_XML_TAG_CHARS,
  MAX_XML_TEXT_CHARS,
  XmlLimitError,
  XmlTooLargeError,
  type XmlLimits,
} from '../../../src/cpix/xml-limits';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { parseXml } from '../../../src/cpix/xml-parse';
import { serializeXml } from '../../../src/cpix/xml-serialize';
import { isElement } from '../../../src/cpix/xml-tree';
import { namespaceScopeDoc, v1ManyKeysRequest, v2RotationRequest } from '../../helpers/cost-docs';

const OPEN = '<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"';
const wrap = (inner: string) => `${OPEN}>${inner}</cpix:CPIX>`;

function refusal(xml: string, limits?: XmlLimits): XmlLimitError | XmlTooLargeError {
  try {
    parseXml(xml, limits);
  } catch (err) {
    if (err instanceof XmlLimitError || err instanceof XmlTooLargeError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('XML limits', () => {
  it('lets a real worst case through: a v2 rotation request with 5,000 keys, 2 systems each, periods and rules', () => {
    const xml = v2RotationRequest('big-v2', 5000);
    const request = parseCpix(xml, '2.0');
    expect(request.contentKeys).toHaveLength(5000);
  });

  it('lets a v1 request with 5,000 keys and 3 systems each through', () => {
    expect(parseCpix(v1ManyKeysRequest('big-v1', 5000), '1.0').contentKeys).toHaveLength(5000);
  });

  it.each([
    [
      'maxAttributesPerElement',
      400,
      `${OPEN} ${Array.from({ length: MAX_XML_ATTRIBUTES_PER_ELEMENT + 1 }, (_, i) => `a${i}=""`).join(' ')}/>`,
    ],
    ['maxAttributeValueChars', 400, `${OPEN} id="${'a'.repeat(MAX_XML_ATTRIBUTE_VALUE_CHARS + 1)}"/>`],
    ['maxTagChars', 400, `${OPEN}${' '.repeat(MAX_XML_TAG_CHARS)}/>`],
    ['maxNameChars', 400, wrap(`<${'a'.repeat(MAX_XML_NAME_CHARS + 1)}/>`)],
    ['maxNameChars', 400, wrap(`<x ${'a'.repeat(MAX_XML_NAME_CHARS + 1)}="1"/>`)],
    ['maxTextChars', 400, wrap('a'.repeat(MAX_XML_TEXT_CHARS + 1))],
    ['maxTextChars', 400, wrap(`<!--${'a'.repeat(MAX_XML_TEXT_CHARS)}-->`)],
    ['maxTextChars', 400, wrap(`<![CDATA[${'a'.repeat(MAX_XML_TEXT_CHARS)}]]>`)],
    ['maxTextChars', 400, wrap(`<?pi ${'a'.repeat(MAX_XML_TEXT_CHARS)}?>`)],
    ['maxDepth', 400, wrap(`${'<a>'.repeat(40)}${'</a>'.repeat(40)}`)],
    ['maxDepth', 400, '<a>'.repeat(300_000)],
    ['maxElements', 413, wrap('<x/>'.repeat(MAX_XML_ELEMENTS))],
    ['maxNodes', 413, wrap('<!---->'.repeat(CPIX_REQUEST_LIMITS.maxNodes))],
    ['maxNamespacesInScope', 400, namespaceScopeDoc(MAX_XML_NAMESPACES_IN_SCOPE, 1)],
    ['maxNamespaceDeclarations', 400, namespaceScopeDoc(1, CPIX_REQUEST_LIMITS.maxNamespaceDeclarations)],
  ])('refuses a document over %s with %i and a message naming it', (limit, status, xml) => {
    const err = refusal(xml);
    expect(err.limit).toBe(limit);
    expect(err.status).toBe(status);
    expect(err.message).toMatch(/limit|levels/);
    if (status === 400) expect(err).toBeInstanceOf(BadRequestError);
  });

  it('refuses "<" inside a tag at once, instead of letting the validator read on to a distant ">"', () => {
    const xml = `${OPEN}><a <${' '.repeat(MAX_XML_TAG_CHARS - 10)}></cpix:CPIX>`;
    expect(() => parseXml(xml)).toThrow(BadRequestError);
    expect(() => parseXml(xml)).toThrow('Malformed XML: "<" inside a tag');
  });

  it('counts indentation as no node, so a pretty-printed document is measured by its content', () => {
    const pretty = wrap(`\n${'  <x/>\n'.repeat(60_000)}`);
    expect(() => parseXml(pretty, { ...CPIX_REQUEST_LIMITS, maxNodes: 60_002 })).not.toThrow();
  });

  it('keeps namespace scopes linear: many declaring children under a root with many declarations', () => {
    // Before scopes were parent-linked frames, each declaring element copied every binding in scope.
    const xml = namespaceScopeDoc(MAX_XML_NAMESPACES_IN_SCOPE - 2, 19_000);
    const root = parseXml(xml);
    const children = root.children.filter(isElement);
    expect(children).toHaveLength(19_000);
    expect(children[18_999]?.attrs[0]).toMatchObject({ qname: 'xmlns:q18999', value: 'urn:q' });
  });

  it('still resolves prefixes through the frames: inner redeclarations win, outer ones come back', () => {
    const xml =
      '<r xmlns:p="urn:outer"><a xmlns:p="urn:inner"><p:x p:at="1"/></a><b><p:y/></b><c xmlns="urn:d"><z/></c></r>';
    const root = parseXml(xml);
    const [a, b, c] = root.children.filter(isElement);
    const x = a?.children.filter(isElement)[0];
    expect(x).toMatchObject({ ns: 'urn:inner', attrs: [{ ns: 'urn:inner', local: 'at' }] });
    expect(b?.children.filter(isElement)[0]?.ns).toBe('urn:outer');
    expect(c?.children.filter(isElement)[0]?.ns).toBe('urn:d');
    expect(serializeXml(root)).toContain('<p:x p:at="1"/>');
  });

  it('applies the larger response limits to what the CLI reads, and says which limit', () => {
    const big = wrap('<x/>'.repeat(MAX_XML_ELEMENTS + 10));
    expect(parseResponseXml(big).children).toHaveLength(MAX_XML_ELEMENTS + 10);
    const tooBig = wrap(`<x a="${'v'.repeat(MAX_XML_ATTRIBUTE_VALUE_CHARS + 1)}"/>`);
    expect(() => parseResponseXml(tooBig)).toThrow(InvalidResponseError);
    expect(() => parseResponseXml(tooBig)).toThrow(/over a limit of what the CLI reads \(maxAttributeValueChars\)/);
  });
});
