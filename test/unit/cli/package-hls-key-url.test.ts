import { isKeyUrl } from '../../../src/cli/package-hls';

// The key URL a SPEKE answer gives becomes line 1 of ffmpeg's key-info file (line 2 names the key file,
// line 3 the IV) and a quoted URI in the playlist: a server must not be able to add lines or attributes.
describe('isKeyUrl', () => {
  it.each([
    ['https://keys.example/keys/movie-1/6c5f5206-7d98-4808-84d8-94f132c1e9fe', true],
    ['http://127.0.0.1:8080/keys/a/b?token=x', true],
    ['https://keys.example/k",IV=0x00000000000000000000000000000000', false],
    ['https://keys.example/k\n/etc/hostname\n00000000000000000000000000000000', false],
    ['https://keys.example/k\r', false],
    ['file:///etc/hostname', false],
    ['/relative/key', false],
    ['skd://movie-1', false],
  ])('%j → %s', (url, ok) => {
    expect(isKeyUrl(url)).toBe(ok);
  });
});
