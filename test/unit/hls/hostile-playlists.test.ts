import { parseAttributeList, PlaylistSyntaxError, serializeAttributeList } from '../../../src/hls/attribute-list';
import { rewriteForPlayback } from '../../../src/hls/playback-rewrite';
import { parsePlaylist, rewriteUris, serializePlaylist } from '../../../src/hls/playlist';

const KID = '11111111-2222-4333-8444-555555555555';
const BASE = new URL('http://origin.test/vod/movie-1/');
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtb3ZpZS0xIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtMDEy';

function rewrite(text: string, playlistPath = 'hls/index.m3u8?q=1'): string {
  const out = rewriteForPlayback(parsePlaylist(text), {
    playlistUrl: new URL(playlistPath, BASE),
    originBase: BASE,
    proxyBase: `http://keys.test/playback/${TOKEN}/hls/movie-1/`,
    keyUrl: (kid) => `http://keys.test/playback/${TOKEN}/keys/movie-1/${kid}`,
  });
  return serializePlaylist(out);
}

/** Every line of the output is one the input had (same count, same kinds): nothing was added or split. */
function expectSameShape(input: string, output: string): void {
  const kinds = (text: string) =>
    text
      .replace(/\n$/, '')
      .split('\n')
      .map((l) =>
        l.startsWith('#EXT') ? l.slice(0, l.indexOf(':') < 0 ? l.length : l.indexOf(':')) : l[0] === '#' ? '#' : 'uri',
      );
  expect(kinds(output)).toEqual(kinds(input));
  for (const line of output.split('\n').filter((l) => l.includes(':') && l.startsWith('#EXT-X-'))) {
    const names = parseAttributeList(line.slice(line.indexOf(':') + 1)).map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
  }
}

/** Values a hostile origin (or a query string echoed by one) may put into URIs. */
const HOSTILE = [
  'seg "quoted".ts',
  'seg,comma.ts',
  'seg.ts?a=",URI="http://evil.test/k"',
  'seg.ts?a=%0D%0A#EXT-X-KEY:METHOD=NONE',
  'seg.ts?a=\u2028b',
  'seg.ts?a=\u0085b',
  'seg.ts?x=<script>',
  'javascript:alert(1)',
  '//evil.test/seg.ts',
  'seg.ts#frag"x',
];

describe('hostile origin playlists', () => {
  it.each(HOSTILE)('a segment URI %j stays one URI line', (uri) => {
    const input = `#EXTM3U\n#EXTINF:4,\n${uri}\n`;
    let output: string;
    try {
      output = rewrite(input);
    } catch (err) {
      expect(err).toBeInstanceOf(PlaylistSyntaxError);
      return;
    }
    expectSameShape(input, output);
    expect(output).not.toMatch(/[\r\u0085\u2028\u2029]/);
  });

  it.each(HOSTILE.filter((u) => !u.includes('"')))('a map URI %j stays inside its quotes', (uri) => {
    const input = `#EXTM3U\n#EXT-X-MAP:URI="${uri}",BYTERANGE="1@0"\n#EXTINF:4,\ns.ts\n`;
    let output: string;
    try {
      output = rewrite(input);
    } catch (err) {
      expect(err).toBeInstanceOf(PlaylistSyntaxError);
      return;
    }
    expectSameShape(input, output);
    const map = output.split('\n')[1] as string;
    expect(parseAttributeList(map.slice('#EXT-X-MAP:'.length)).map((a) => a.name)).toEqual(['URI', 'BYTERANGE']);
  });

  it('percent-encodes quotes and spaces of URIs it rewrites', () => {
    const output = rewrite('#EXTM3U\n#EXTINF:4,\nseg "x".ts?a="b c"\n');
    expect(output).toContain('http://origin.test/vod/movie-1/hls/seg%20%22x%22.ts?a=%22b%20c%22\n');
  });

  it('keeps a key URI whose query tries to close the quote inside one attribute', () => {
    const input = `#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="/k/${KID}?a=,IV=0x00",IV=0x01\n`;
    const output = rewrite(input);
    expect(output).toBe(
      `#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="http://keys.test/playback/${TOKEN}/keys/movie-1/${KID}",IV=0x01\n`,
    );
  });

  it.each([
    ['a lone CR inside a comment', '#EXTM3U\n# a\r#EXT-X-ENDLIST\n'],
    ['a lone CR inside a non-http URI line', '#EXTM3U\n#EXTINF:4,\ndata:x\r#EXT-X-ENDLIST\n'],
    ['a NUL in a comment', '#EXTM3U\n# hi\u0000there\n'],
    ['a line separator in a quoted attribute', '#EXTM3U\n#EXT-X-MAP:URI="i.mp4",X-A="a\u2028b"\n'],
    ['NEL in a tag value', '#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\u0085#EXT-X-ENDLIST\n'],
  ])('refuses %s (the serializer never writes a line break from input)', (_name, input) => {
    expect(() => rewrite(input)).toThrow(PlaylistSyntaxError);
  });

  it('drops a lone CR from an http URI line while resolving it (the URL parser removes it)', () => {
    const output = rewrite('#EXTM3U\n#EXTINF:4,\nseg.ts\r#EXT-X-ENDLIST\n');
    expect(output).toBe('#EXTM3U\n#EXTINF:4,\nhttp://origin.test/vod/movie-1/hls/seg.ts#EXT-X-ENDLIST\n');
  });

  it('refuses a rewrite that would add a line or an attribute', () => {
    const playlist = parsePlaylist('#EXTM3U\n#EXT-X-MAP:URI="i.mp4"\n#EXTINF:4,\ns.ts\n');
    for (const evil of ['a\n#EXT-X-ENDLIST', 'a\r\nb', 'a"b', '#EXT-X-KEY:METHOD=NONE', ' a', '']) {
      expect(() => serializePlaylist(rewriteUris(playlist, () => evil))).toThrow(PlaylistSyntaxError);
    }
  });

  it('refuses unquoted values that would split an attribute list', () => {
    for (const value of ['a,B=1', 'a b', 'a"', '', 'a\nb']) {
      expect(() => serializeAttributeList([{ name: 'X', value, kind: 'enumerated' }])).toThrow(PlaylistSyntaxError);
    }
    expect(() => serializeAttributeList([{ name: 'X,Y', value: '1', kind: 'decimal-integer' }])).toThrow(
      PlaylistSyntaxError,
    );
  });

  it('does not quote origin text in the rule it reports', () => {
    try {
      parseAttributeList('METHOD=AES 128', 3);
    } catch (err) {
      expect((err as PlaylistSyntaxError).rule).toBe('bad attribute value');
      expect((err as PlaylistSyntaxError).message).toContain('AES 128');
    }
  });
});
