import { checkPlaylistPath } from '../../../src/delivery/playlist-routes';

describe('checkPlaylistPath', () => {
  it('keeps a relative path, percent-encoding each segment', () => {
    expect(checkPlaylistPath(['video', 'index 1.m3u8'])).toBe('video/index%201.m3u8');
  });

  it.each([
    [
      ['..', 'x.m3u8'],
      'path must be a relative path below the resource (no "..", "." or empty segments, no encoded / or \\)',
    ],
    [
      ['a/b.m3u8'],
      'path must be a relative path below the resource (no "..", "." or empty segments, no encoded / or \\)',
    ],
    [
      ['', 'x.m3u8'],
      'path must be a relative path below the resource (no "..", "." or empty segments, no encoded / or \\)',
    ],
    [['a\u0000.m3u8'], 'path must not contain control characters'],
    [['a'.repeat(1020), 'x.m3u8'], 'path must be at most 1024 characters (percent-encoded)'],
  ])('says what is wrong with %j', (segments, message) => {
    expect(() => checkPlaylistPath(segments)).toThrow(message);
  });
});
