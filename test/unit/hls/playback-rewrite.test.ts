import { parsePlaylist, serializePlaylist } from '../../../src/hls/playlist';
import { KeyUriError, kidOfKeyUri, rewriteForPlayback } from '../../../src/hls/playback-rewrite';

const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const BASE = new URL('http://origin.test/vod/movie-1/');
const PROXY = 'http://keys.test/playback/TOKEN/hls/movie-1/';

function rewrite(text: string, playlistPath = 'hls/index.m3u8'): string {
  const out = rewriteForPlayback(parsePlaylist(text), {
    playlistUrl: new URL(playlistPath, BASE),
    originBase: BASE,
    proxyBase: PROXY,
    keyUrl: (kid) => `http://keys.test/playback/TOKEN/keys/movie-1/${kid}`,
  });
  return serializePlaylist(out);
}

describe('kidOfKeyUri', () => {
  it.each([
    [`https://k.example/keys/movie-1/${KID_A}`, undefined, KID_A],
    [`https://k.example/keys/movie-1/${KID_A.toUpperCase()}/`, undefined, KID_A],
    [`https://proxy.example/key?resource=movie-1&kid=${KID_B}`, undefined, KID_B],
    [`https://k.example/${KID_A}/x/${KID_B}`, undefined, KID_B],
    ['https://k.example/key.bin', `0x${KID_B.replace(/-/g, '')}`, KID_B],
    ['https://k.example/key.bin', undefined, undefined],
  ])('%s (KEYID %s) → %s', (uri, keyId, kid) => {
    expect(kidOfKeyUri(new URL(uri), keyId)).toBe(kid);
  });
});

describe('rewriteForPlayback', () => {
  it('points every identity key at the tokenized key URL, wherever URI sits in the attribute list', () => {
    const out = rewrite(
      [
        '#EXTM3U',
        `#EXT-X-KEY:METHOD=AES-128,URI="http://old.example/keys/movie-1/${KID_A}",IV=0x01`,
        '#EXTINF:1,',
        'seg0.ts',
        `#EXT-X-KEY:IV=0x02,URI="../../keys/movie-1/${KID_B}?x=1",METHOD=AES-128,KEYFORMAT="identity"`,
        '#EXTINF:1,',
        'seg1.ts',
      ].join('\n'),
    );
    expect(out).toContain(
      `#EXT-X-KEY:METHOD=AES-128,URI="http://keys.test/playback/TOKEN/keys/movie-1/${KID_A}",IV=0x01`,
    );
    expect(out).toContain(
      `#EXT-X-KEY:IV=0x02,URI="http://keys.test/playback/TOKEN/keys/movie-1/${KID_B}",METHOD=AES-128,KEYFORMAT="identity"`,
    );
  });

  it('leaves METHOD=NONE and non-identity key formats (FairPlay skd://) alone', () => {
    const text = [
      '#EXTM3U',
      '#EXT-X-KEY:METHOD=NONE',
      `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://movie-1/${KID_A}",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"`,
    ].join('\n');
    expect(rewrite(text)).toBe(`${text}\n`);
  });

  it('rewrites an EXT-X-SESSION-KEY too', () => {
    const out = rewrite(`#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI="/k/${KID_A}"\n`);
    expect(out).toContain(`URI="http://keys.test/playback/TOKEN/keys/movie-1/${KID_A}"`);
  });

  it('refuses a key URI that names no KID', () => {
    expect(() => rewrite('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\n')).toThrow(KeyUriError);
  });

  it('sends playlists under the resource base through us (keeping the query) and everything else to the origin', () => {
    const out = rewrite(
      [
        '#EXTM3U',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8?v=2"',
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="/vod/movie-1/iframes.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1',
        '../low/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=2',
        '../../movie-2/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=3',
        'https://cdn.example/other.m3u8',
      ].join('\n'),
    );
    expect(out).toContain(`URI="${PROXY}hls/audio/en.m3u8?v=2"`);
    expect(out).toContain(`URI="${PROXY}iframes.m3u8"`);
    expect(out).toContain(`\n${PROXY}low/index.m3u8\n`);
    expect(out).toContain('\nhttp://origin.test/vod/movie-2/index.m3u8\n');
    expect(out).toContain('\nhttps://cdn.example/other.m3u8\n');
  });

  it('makes segments, init sections and byte-range segments absolute origin URLs', () => {
    const out = rewrite(
      [
        '#EXTM3U',
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"',
        '#EXTINF:4,',
        '#EXT-X-BYTERANGE:1000@720',
        'main.mp4',
        '#EXTINF:4,',
        '../seg 1.ts?sig=abc',
        '#EXTINF:4,',
        'https://cdn.example/seg2.ts',
      ].join('\n'),
    );
    expect(out).toContain('#EXT-X-MAP:URI="http://origin.test/vod/movie-1/hls/init.mp4",BYTERANGE="720@0"');
    expect(out).toContain('#EXT-X-BYTERANGE:1000@720\nhttp://origin.test/vod/movie-1/hls/main.mp4\n');
    expect(out).toContain('\nhttp://origin.test/vod/movie-1/seg%201.ts?sig=abc\n');
    expect(out).toContain('\nhttps://cdn.example/seg2.ts\n');
  });
});
