import { UUID_PATTERN } from '../../../src/domain/ids';
import { deriveKid } from '../../../src/widevine/kid-derivation';

const SECRET = Buffer.alloc(32, 7);
const base = { resourceId: 'movie-1', track: 'SD' as const };

describe('deriveKid', () => {
  it('is a stable RFC 9562 UUIDv8 (version 8, variant 10)', () => {
    const kid = deriveKid(SECRET, base);
    expect(kid).toMatch(UUID_PATTERN);
    expect(kid[14]).toBe('8');
    expect(['8', '9', 'a', 'b']).toContain(kid[19]);
    expect(deriveKid(SECRET, { ...base })).toBe(kid);
  });

  it('differs by resource, track, crypto period (none vs 0), video feature and secret', () => {
    const kids = [
      deriveKid(SECRET, base),
      deriveKid(SECRET, { ...base, resourceId: 'movie-2' }),
      deriveKid(SECRET, { ...base, track: 'HD' }),
      deriveKid(SECRET, { ...base, period: 0 }),
      deriveKid(SECRET, { ...base, period: 1 }),
      deriveKid(SECRET, { ...base, videoFeature: 'HDR' }),
      deriveKid(Buffer.alloc(32, 8), base),
    ];
    expect(new Set(kids).size).toBe(kids.length);
  });

  it('ignores video_feature for AUDIO, as Widevine does', () => {
    const audio = { ...base, track: 'AUDIO' as const };
    expect(deriveKid(SECRET, { ...audio, videoFeature: 'HDR' })).toBe(deriveKid(SECRET, audio));
  });

  it('cannot be confused by separators inside the resource ID', () => {
    expect(deriveKid(SECRET, { resourceId: 'a', track: 'SD', period: 1 })).not.toBe(
      deriveKid(SECRET, { resourceId: 'a","SD', track: 'SD', period: 1 }),
    );
  });
});
