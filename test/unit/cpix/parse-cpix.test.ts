import { parseCpix } from '../../../src/cpix/parse-cpix';
import { BadRequestError } from '../../../src/errors';
import { fixture } from '../../helpers/fixtures';

describe('parseCpix (SPEKE v1)', () => {
  it('reads the resource ID, KIDs and DRM systems of the single-key fixture', () => {
    const req = parseCpix(fixture('v1/hls-single-key.xml'));
    expect(req.resourceId).toBe('MovieNight20171126093045');
    expect(req.contentKeys.map((k) => k.kid)).toEqual(['6c5f5206-7d98-4808-84d8-94f132c1e9fe']);
    expect(req.drmSystems).toEqual([
      expect.objectContaining({
        kid: '6c5f5206-7d98-4808-84d8-94f132c1e9fe',
        systemId: '81376844-f976-481e-a84e-cc25d39b0b33',
      }),
    ]);
    expect(req.periods).toEqual([]);
  });

  it('normalises KIDs and system IDs to lower case', () => {
    const req = parseCpix(fixture('v1/hls-several-keys.xml'));
    expect(req.contentKeys.map((k) => k.kid)).toEqual([
      '11111111-2222-4333-8444-555555555555',
      'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    ]);
    expect(req.drmSystems[1]?.systemId).toBe('81376844-f976-481e-a84e-cc25d39b0b33');
  });

  it('decodes an encoder-proposed explicitIV', () => {
    const req = parseCpix(fixture('v1/hls-explicit-iv.xml'));
    expect(req.contentKeys[0]?.explicitIV?.toString('base64')).toBe('OFj2IjCsPJFfMAxmQxLGPw==');
  });

  it('reads key periods and usage rules', () => {
    const req = parseCpix(fixture('v1/hls-key-period.xml'));
    expect(req.periods).toEqual([
      { id: 'keyPeriod_e64248d6-b9b2-4d7a-b99d-5d6d3a6e0d1f', index: 11425, start: undefined, end: undefined },
    ]);
    expect(req.usageRules[0]?.periodIds).toEqual(['keyPeriod_e64248d6-b9b2-4d7a-b99d-5d6d3a6e0d1f']);
  });

  it('matches on namespace URI, not prefix (default namespace)', () => {
    const req = parseCpix(fixture('v1/hls-default-namespace.xml'));
    expect(req.resourceId).toBe('default-ns-1');
    expect(req.drmSystems).toHaveLength(1);
  });

  const rejected: Array<[string, RegExp]> = [
    [
      'wrong-namespace.xml',
      /Root element must be CPIX in namespace urn:dashif:org:cpix; got CPIX in urn:dashif:org:cpix:wrong/,
    ],
    ['missing-id.xml', /Missing CPIX@id/],
    ['bad-resource-id.xml', /CPIX@id "\.\.\/etc\/passwd" is not a valid resource ID/],
    ['bad-kid.xml', /ContentKey@kid "not-a-uuid" is not a UUID/],
    ['missing-kid.xml', /Missing ContentKey@kid/],
    ['duplicate-kid.xml', /Duplicate ContentKey@kid 6c5f5206-7d98-4808-84d8-94f132c1e9fe/],
    ['no-content-keys.xml', /ContentKeyList must contain at least one/],
    ['drm-kid-unknown.xml', /DRMSystem@kid 00000000-0000-4000-8000-000000000000 does not refer to a ContentKey/],
    ['bad-explicit-iv.xml', /explicitIV for KID 6c5f5206-7d98-4808-84d8-94f132c1e9fe must be base64 of 16 bytes/],
    ['bad-period-ref.xml', /KeyPeriodFilter@periodId "p2" for KID .* does not refer to a ContentKeyPeriod/],
    ['malformed.xml', /Malformed XML/],
    ['unbound-prefix.xml', /Unbound namespace prefix "x"/],
    ['xxe-file.xml', /DOCTYPE and ENTITY declarations are not allowed/],
    ['xxe-url.xml', /DOCTYPE and ENTITY declarations are not allowed/],
    ['billion-laughs.xml', /DOCTYPE and ENTITY declarations are not allowed/],
    ['undefined-entity.xml', /entity/i],
  ];
  it.each(rejected)('rejects %s with a message naming the problem', (name, message) => {
    const run = () => parseCpix(fixture(`v1/rejected/${name}`));
    expect(run).toThrow(BadRequestError);
    expect(run).toThrow(message);
  });

  it('rejects deep nesting without recursion trouble', () => {
    const deep = `<cpix:CPIX id="d" xmlns:cpix="urn:dashif:org:cpix">${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</cpix:CPIX>`;
    expect(() => parseCpix(deep)).toThrow(BadRequestError);
  });

  it('rejects markup after "<!" that is neither a comment nor a CDATA section, saying where', () => {
    const mangled = fixture('v1/hls-single-key.xml').replace('<!-- HLS', '<!&#0;-- HLS');
    expect(() => parseCpix(mangled)).toThrow(
      /Malformed XML: unexpected markup "<!&#0;-- HLS" \(line \d+, column \d+\)/,
    );
  });

  it('rejects an empty body and non-XML', () => {
    expect(() => parseCpix('')).toThrow(BadRequestError);
    expect(() => parseCpix('{"json": true}')).toThrow(BadRequestError);
  });
});
