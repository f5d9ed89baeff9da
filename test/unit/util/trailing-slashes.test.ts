import fc from 'fast-check';
import { withoutTrailingSlashes } from '../../../src/util/trailing-slashes';
import { checkOriginEntry } from '../../../src/auth/origin-matcher';

describe('withoutTrailingSlashes', () => {
  it('drops every trailing slash and nothing else', () => {
    expect(withoutTrailingSlashes('https://a.example///')).toBe('https://a.example');
    expect(withoutTrailingSlashes('https://a.example')).toBe('https://a.example');
    expect(withoutTrailingSlashes('///')).toBe('');
    expect(withoutTrailingSlashes('')).toBe('');
    expect(withoutTrailingSlashes('a//b/')).toBe('a//b');
  });

  it('answers as the regex it replaces, on any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('/', 'a', ':', '.') }), (text) => {
        expect(withoutTrailingSlashes(text)).toBe(text.replace(/\/+$/, ''));
      }),
    );
  });

  it('refuses an origin entry with a long run of slashes inside as any bad entry', () => {
    const entry = `https://a${'/'.repeat(16_000)}x`;
    expect(() => checkOriginEntry(entry)).toThrow(/is not an origin like/);
    expect(checkOriginEntry('HTTPS://Player.Example.com//')).toBe('https://player.example.com');
  });
});
