import { parseXml } from '../../../src/cpix/xml-parse';
import { serializeXml } from '../../../src/cpix/xml-serialize';
import { fixture } from '../../helpers/fixtures';

describe('XML parse/serialize round trip', () => {
  it('keeps every element, attribute and namespace declaration', () => {
    const xml = fixture('v1/hls-several-keys.xml');
    const again = parseXml(serializeXml(parseXml(xml)));
    expect(again).toEqual(parseXml(xml));
    expect(serializeXml(parseXml(xml))).toContain(
      '<cpix:UpdateHistoryItem index="1" source="encoder" date="2026-11-23T00:00:00Z"/>',
    );
  });

  it('decodes and re-escapes predefined entities and character references', () => {
    const root = parseXml('<r a="x&amp;y&#x41;&lt;">1 &lt; 2 &#65;</r>');
    expect(root.attrs[0]?.value).toBe('x&yA<');
    expect(root.children).toEqual([{ text: '1 < 2 A' }]);
    expect(serializeXml(root)).toBe('<?xml version="1.0" encoding="UTF-8"?><r a="x&amp;yA&lt;">1 &lt; 2 A</r>');
  });

  it('keeps a default namespace', () => {
    const out = serializeXml(parseXml(fixture('v1/hls-default-namespace.xml')));
    expect(out).toContain('<CPIX xmlns="urn:dashif:org:cpix"');
    expect(out).toContain('<s:KeyFormat/>');
  });
});
