import { parsePlaylist, serializePlaylist } from '../../../src/hls/playlist';
import { AlreadyEncryptedError, rewriteForSession, SessionPlaylistError } from '../../../src/hls/session-rewrite';

const BASE = new URL('http://origin.test/vod/movie-1/');
const SESSION = 'http://keys.test/sessions/SID/hls/movie-1/';
const KEY = 'http://keys.test/sessions/SID/key';

function rewrite(text: string, playlistPath = 'hls/index.m3u8'): string[] {
  const out = rewriteForSession(parsePlaylist(text), {
    playlistUrl: new URL(playlistPath, BASE),
    originBase: BASE,
    sessionBase: SESSION,
    keyUri: KEY,
  });
  return serializePlaylist(out).trimEnd().split('\n');
}

const KEY_LINE = `#EXT-X-KEY:METHOD=AES-128,URI="${KEY}"`;

describe('rewriteForSession: media playlists', () => {
  it('numbers segments from EXT-X-MEDIA-SEQUENCE and puts one key before the first segment', () => {
    const lines = rewrite(
      '#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:41\n#EXTINF:2,\na.ts\n#EXTINF:2,\n/vod/movie-1/hls/b.ts?x=1\n',
    );
    expect(lines).toEqual([
      '#EXTM3U',
      '#EXT-X-MEDIA-SEQUENCE:41',
      KEY_LINE,
      '#EXTINF:2,',
      `${SESSION}hls/a.ts?kp_seq=41`,
      '#EXTINF:2,',
      `${SESSION}hls/b.ts?x=1&kp_seq=42`,
    ]);
  });

  it('a refreshed live playlist keeps the same key URI and continues the numbering', () => {
    const first = rewrite('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\ns7.ts\n');
    const later = rewrite('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:8\n#EXTINF:2,\ns8.ts\n');
    expect(first[2]).toBe(KEY_LINE);
    expect(later[2]).toBe(KEY_LINE);
    expect(later[4]).toBe(`${SESSION}hls/s8.ts?kp_seq=8`);
  });

  it('turns byte ranges into segments (offsets continued per file) and drops EXT-X-BYTERANGE', () => {
    const lines = rewrite(
      '#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:100@0\nall.ts\n#EXTINF:1,\n#EXT-X-BYTERANGE:50\nall.ts\n',
    );
    expect(lines.some((l) => l.includes('BYTERANGE'))).toBe(false);
    expect(lines.filter((l) => l.startsWith('http'))).toEqual([
      `${SESSION}hls/all.ts?kp_seq=0&kp_off=0&kp_len=100`,
      `${SESSION}hls/all.ts?kp_seq=1&kp_off=100&kp_len=50`,
    ]);
  });

  it('keeps init sections clear: EXT-X-MAP before the key, METHOD=NONE before a later map', () => {
    const lines = rewrite(
      '#EXTM3U\n#EXT-X-MAP:URI="init.mp4",BYTERANGE="700@0"\n#EXTINF:1,\na.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init2.mp4"\n#EXTINF:1,\nb.m4s\n',
    );
    expect(lines).toEqual([
      '#EXTM3U',
      `#EXT-X-MAP:URI="${SESSION}hls/init.mp4?kp_init=1&kp_off=0&kp_len=700"`,
      KEY_LINE,
      '#EXTINF:1,',
      `${SESSION}hls/a.m4s?kp_seq=0`,
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-KEY:METHOD=NONE',
      `#EXT-X-MAP:URI="${SESSION}hls/init2.mp4?kp_init=1"`,
      KEY_LINE,
      '#EXTINF:1,',
      `${SESSION}hls/b.m4s?kp_seq=1`,
    ]);
  });

  it('drops METHOD=NONE keys and refuses encrypted content', () => {
    expect(rewrite('#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:1,\na.ts\n')).not.toContain('#EXT-X-KEY:METHOD=NONE');
    expect(() => rewrite('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:1,\na.ts\n')).toThrow(
      AlreadyEncryptedError,
    );
    expect(() => rewrite('#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"\n#EXTINF:1,\na.ts\n')).toThrow(
      AlreadyEncryptedError,
    );
  });

  it.each([
    ['another host', 'http://evil.test/vod/movie-1/a.ts'],
    ['another resource', '../../movie-2/a.ts'],
    ['a scheme-relative URL', '//evil.test/a.ts'],
  ])('refuses a segment outside the resource base (%s)', (_what, uri) => {
    expect(() => rewrite(`#EXTM3U\n#EXTINF:1,\n${uri}\n`)).toThrow(SessionPlaylistError);
  });

  it('refuses low-latency parts and bad sequence numbers', () => {
    expect(() => rewrite('#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI="p.mp4"\n#EXTINF:1,\na.ts\n')).toThrow(
      SessionPlaylistError,
    );
    expect(() => rewrite('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n#EXTINF:1,\na.ts\n')).toThrow(SessionPlaylistError);
  });

  it('refuses a delta update, whose skipped segments would shift every IV after them', () => {
    expect(() =>
      rewrite('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n#EXTINF:1,\ns15.ts\n'),
    ).toThrow('delta playlist updates (EXT-X-SKIP) are not supported');
  });
});

describe('rewriteForSession: multivariant playlists', () => {
  it('sends variants and renditions through the session and drops I-frame playlists', () => {
    const lines = rewrite(
      '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n' +
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="iframes.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="a"\nvideo/index.m3u8\n',
      'master.m3u8',
    );
    expect(lines).toEqual([
      '#EXTM3U',
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="${SESSION}audio/en.m3u8"`,
      '#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="a"',
      `${SESSION}video/index.m3u8`,
    ]);
  });

  it('refuses EXT-X-SESSION-KEY other than NONE and variants elsewhere', () => {
    expect(() =>
      rewrite('#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k"\n#EXT-X-STREAM-INF:BANDWIDTH=2\nv.m3u8\n'),
    ).toThrow(AlreadyEncryptedError);
    expect(() => rewrite('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2\nhttp://evil.test/v.m3u8\n')).toThrow(
      SessionPlaylistError,
    );
  });
});
