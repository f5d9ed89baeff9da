import {
  attributeValue,
  parseAttributeList,
  PlaylistSyntaxError,
  serializeAttributeList,
  withAttribute,
} from '../../../src/hls/attribute-list';

describe('parseAttributeList', () => {
  it('reads each value kind of RFC 8216 §4.2', () => {
    const list = parseAttributeList(
      'METHOD=AES-128,URI="https://k.example/a,b=c",IV=0x0123456789abcdef0123456789ABCDEF,BANDWIDTH=1280000,' +
        'FRAME-RATE=29.970,TIME-OFFSET=-2.5,RESOLUTION=1920x1080',
    );
    expect(list).toEqual([
      { name: 'METHOD', value: 'AES-128', kind: 'enumerated' },
      { name: 'URI', value: 'https://k.example/a,b=c', kind: 'quoted-string' },
      { name: 'IV', value: '0x0123456789abcdef0123456789ABCDEF', kind: 'hexadecimal' },
      { name: 'BANDWIDTH', value: '1280000', kind: 'decimal-integer' },
      { name: 'FRAME-RATE', value: '29.970', kind: 'decimal-float' },
      { name: 'TIME-OFFSET', value: '-2.5', kind: 'decimal-float' },
      { name: 'RESOLUTION', value: '1920x1080', kind: 'resolution' },
    ]);
  });

  it('keeps commas and equals signs inside quoted strings, and empty quoted strings', () => {
    const list = parseAttributeList('CODECS="avc1.4d401f,mp4a.40.2",NAME="",CHARACTERISTICS="a=b,c"');
    expect(attributeValue(list, 'CODECS')).toBe('avc1.4d401f,mp4a.40.2');
    expect(attributeValue(list, 'NAME')).toBe('');
    expect(attributeValue(list, 'CHARACTERISTICS')).toBe('a=b,c');
  });

  it('round-trips to the same text', () => {
    const text = 'TYPE=AUDIO,GROUP-ID="aud",NAME="English, main",DEFAULT=YES,URI="audio/en.m3u8?x=1,2"';
    expect(serializeAttributeList(parseAttributeList(text))).toBe(text);
  });

  it.each([
    ['URI="unterminated', /unterminated quoted string/],
    ['uri="lower-case-name"', /bad attribute name/],
    ['METHOD', /bad attribute name/],
    ['METHOD=AES-128,', /ends with ","/],
    ['URI="a"X=1', /expected ","/],
    ['METHOD=', /bad attribute value/],
    ['METHOD=AES 128', /bad attribute value/],
  ])('rejects %s', (text, message) => {
    const attempt = () => parseAttributeList(text, 7);
    expect(attempt).toThrow(PlaylistSyntaxError);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(/^line 7: /);
  });

  it('replaces one value and refuses to serialize a quote into a quoted string', () => {
    const list = parseAttributeList('METHOD=AES-128,URI="old"');
    expect(serializeAttributeList(withAttribute(list, 'URI', 'new'))).toBe('METHOD=AES-128,URI="new"');
    expect(() => serializeAttributeList(withAttribute(list, 'URI', 'a"b'))).toThrow(PlaylistSyntaxError);
  });
});
