import {
  isMultivariant,
  parsePlaylist,
  PlaylistSyntaxError,
  rewriteUris,
  serializePlaylist,
  type UriContext,
} from '../../../src/hls/playlist';

const MEDIA = [
  '#EXTM3U',
  '#EXT-X-VERSION:7',
  '#EXT-X-TARGETDURATION:4',
  '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"',
  '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/keys/vod-1/11111111-2222-4333-8444-555555555555",IV=0x00',
  '# a comment, not a tag',
  '#EXTINF:4.0,Title, with a comma',
  '#EXT-X-BYTERANGE:1000@720',
  'main.mp4',
  '',
  '#EXTINF:4.0,',
  '../shared/seg 2.ts?sig=a,b',
  '#EXT-X-ENDLIST',
].join('\n');

const MASTER = [
  '#EXTM3U',
  '#EXT-X-SESSION-KEY:KEYFORMAT="identity",URI="skd://x",METHOD=SAMPLE-AES',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en, main",URI="audio/en.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="a"',
  'video/low.m3u8',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="video/iframes.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=2000000',
  '',
  'https://cdn.example/high.m3u8',
].join('\r\n');

describe('parsePlaylist', () => {
  it('splits tags, attribute lists, comments, blanks and URI lines', () => {
    const { lines } = parsePlaylist(MEDIA);
    expect(lines[0]).toEqual({ type: 'tag', name: 'EXTM3U' });
    expect(lines[1]).toEqual({ type: 'tag', name: 'EXT-X-VERSION', value: '7' });
    expect(lines[3]).toMatchObject({ name: 'EXT-X-MAP', attributes: [{ name: 'URI' }, { name: 'BYTERANGE' }] });
    expect(lines[5]).toEqual({ type: 'comment', text: ' a comment, not a tag' });
    expect(lines[6]).toEqual({ type: 'tag', name: 'EXTINF', value: '4.0,Title, with a comma' });
    expect(lines[7]).toEqual({ type: 'tag', name: 'EXT-X-BYTERANGE', value: '1000@720' });
    expect(lines[8]).toEqual({ type: 'uri', uri: 'main.mp4' });
    expect(lines[9]).toEqual({ type: 'blank' });
  });

  it('round-trips a media playlist byte for byte and a CRLF master playlist with LF endings', () => {
    expect(serializePlaylist(parsePlaylist(MEDIA))).toBe(`${MEDIA}\n`);
    expect(serializePlaylist(parsePlaylist(`\uFEFF${MASTER}\r\n`))).toBe(`${MASTER.replace(/\r\n/g, '\n')}\n`);
  });

  it('tells master from media playlists', () => {
    expect(isMultivariant(parsePlaylist(MASTER))).toBe(true);
    expect(isMultivariant(parsePlaylist(MEDIA))).toBe(false);
  });

  it.each([
    ['', /must start with #EXTM3U/],
    ['<html>not a playlist</html>', /must start with #EXTM3U/],
    ['#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="open', /line 2: unterminated/],
  ])('rejects %j', (text, message) => {
    expect(() => parsePlaylist(text)).toThrow(PlaylistSyntaxError);
    expect(() => parsePlaylist(text)).toThrow(message);
  });
});

describe('rewriteUris', () => {
  function contexts(text: string): [string, UriContext, string | undefined][] {
    const seen: [string, UriContext, string | undefined][] = [];
    rewriteUris(parsePlaylist(text), (uri, context, tag) => {
      seen.push([uri, context, tag?.name]);
      return uri;
    });
    return seen;
  }

  it('visits every URI of a media playlist with its context', () => {
    expect(contexts(MEDIA)).toEqual([
      ['init.mp4', 'map', 'EXT-X-MAP'],
      ['https://keys.example/keys/vod-1/11111111-2222-4333-8444-555555555555', 'key', 'EXT-X-KEY'],
      ['main.mp4', 'segment', 'EXT-X-BYTERANGE'],
      ['../shared/seg 2.ts?sig=a,b', 'segment', 'EXTINF'],
    ]);
  });

  it('visits variants, renditions, I-frame playlists and session keys of a master playlist', () => {
    expect(contexts(MASTER)).toEqual([
      ['skd://x', 'session-key', 'EXT-X-SESSION-KEY'],
      ['audio/en.m3u8', 'rendition', 'EXT-X-MEDIA'],
      ['video/low.m3u8', 'variant', 'EXT-X-STREAM-INF'],
      ['video/iframes.m3u8', 'iframe-playlist', 'EXT-X-I-FRAME-STREAM-INF'],
      ['https://cdn.example/high.m3u8', 'variant', 'EXT-X-STREAM-INF'],
    ]);
  });

  it('visits LL-HLS parts, preload hints and rendition reports', () => {
    const text = [
      '#EXTM3U',
      '#EXT-X-PART:DURATION=0.5,URI="part1.mp4",INDEPENDENT=YES',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part2.mp4"',
      '#EXT-X-RENDITION-REPORT:URI="../alt/index.m3u8",LAST-MSN=3',
    ].join('\n');
    expect(contexts(text).map(([, c]) => c)).toEqual(['part', 'preload-hint', 'rendition-report']);
  });

  it('replaces only URIs and keeps every other attribute, in order', () => {
    const out = serializePlaylist(rewriteUris(parsePlaylist(MEDIA), (uri) => `X${uri.length}`));
    expect(out).toContain('#EXT-X-MAP:URI="X8",BYTERANGE="720@0"');
    expect(out).toContain('#EXT-X-KEY:METHOD=AES-128,URI="X68",IV=0x00');
    expect(out).toContain('#EXTINF:4.0,Title, with a comma\n#EXT-X-BYTERANGE:1000@720\nX8\n');
    expect(out).toContain('\nX26\n#EXT-X-ENDLIST');
  });

  it('leaves a key without URI (METHOD=NONE) alone', () => {
    const text = '#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:1,\na.ts\n';
    const out = serializePlaylist(rewriteUris(parsePlaylist(text), () => 'changed'));
    expect(out).toBe('#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:1,\nchanged\n');
  });
});
