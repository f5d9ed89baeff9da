import fc from 'fast-check';
import {
  aclCovers,
  aclEntryMatches,
  EdgeAuthVerifier,
  parseEdgeAuthToken,
  type EdgeAuthSettings,
} from '../../../src/auth/edgeauth-token';
import { AccessDeniedError } from '../../../src/auth/delivery-errors';
import { GoneError, UnauthorizedError } from '../../../src/errors';
import { akamaiAclToken, akamaiUrlToken, type AkamaiEdgeAuthOptions } from '../../helpers/akamai-edgeauth';

// Every token here comes from Akamai's generator (akamai-edgeauth), keyed with hex like Akamai's console.
const KEY = '52a152a152a152a152a152a152a152a1';
const OLD_KEY = '0123456789abcdef0123456789abcdef';
const NOW = 1_900_000_000;
const PATH = '/keys/movie-1/11111111-2222-4333-8444-555555555555';

const settings = (over: Partial<EdgeAuthSettings> = {}): EdgeAuthSettings => ({
  keys: [Buffer.from(KEY, 'hex')],
  algorithm: 'sha256',
  tenant: 'acme',
  ...over,
});
const verifier = (over: Partial<EdgeAuthSettings> = {}, now = NOW) =>
  new EdgeAuthVerifier(settings(over), () => new Date(now * 1000));
const opts = (over: Partial<AkamaiEdgeAuthOptions> = {}): AkamaiEdgeAuthOptions => ({
  key: KEY,
  startTime: NOW - 10,
  endTime: NOW + 300,
  ...over,
});

/** The refusal `fn` throws, as status and reason. */
function refusal(fn: () => unknown): { status: number; reason?: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AccessDeniedError) return { status: 403, reason: err.reason };
    if (err instanceof GoneError) return { status: 410 };
    if (err instanceof UnauthorizedError) return { status: 401 };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('EdgeAuthVerifier with tokens from akamai-edgeauth', () => {
  it('accepts an ACL token for a covered path and names its tenant and id', () => {
    const token = akamaiAclToken(opts({ sessionId: 'viewer-7', payload: 'plan=gold' }), '/keys/movie-1/*');
    expect(token).toMatch(/^st=\d+~exp=\d+~acl=\/keys\/movie-1\/\*~id=viewer-7~data=plan=gold~hmac=[0-9a-f]{64}$/);
    expect(verifier().verify(token, { rawPath: PATH })).toEqual({
      id: 'viewer-7',
      tenant: 'acme',
      expiresAt: new Date((NOW + 300) * 1000),
    });
  });

  it('matches * wildcards and !-separated ACL lists', () => {
    const list = akamaiAclToken(opts(), ['/other/*', '/keys/movie-*/*-4333-*', '/third']);
    expect(verifier().verify(list, { rawPath: PATH }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(list, { rawPath: '/keys/film-1/x' }))).toEqual({
      status: 403,
      reason: 'edgeauth_acl_denied',
    });
    expect(verifier().verify(list, { rawPath: '/third' }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(list, { rawPath: '/third/x' })).reason).toBe('edgeauth_acl_denied');
  });

  it('accepts a URL token for its own path only', () => {
    const token = akamaiUrlToken(opts(), PATH);
    expect(verifier().verify(token, { rawPath: PATH }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(token, { rawPath: `${PATH}x` })).reason).toBe('edgeauth_hmac_mismatch');
  });

  it('tries the transition key, and refuses a token of neither key', () => {
    const old = akamaiAclToken(opts({ key: OLD_KEY }), '/*');
    const both = verifier({ keys: [Buffer.from(KEY, 'hex'), Buffer.from(OLD_KEY, 'hex')] });
    expect(both.verify(old, { rawPath: PATH }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(old, { rawPath: PATH }))).toEqual({
      status: 403,
      reason: 'edgeauth_hmac_mismatch',
    });
  });

  it('answers 410 for an expired token and 403 for one whose st is beyond the skew', () => {
    const expired = akamaiAclToken(opts({ startTime: NOW - 600, endTime: NOW - 1 }), '/*');
    expect(refusal(() => verifier().verify(expired, { rawPath: PATH }))).toEqual({ status: 410 });
    const early = akamaiAclToken(opts({ startTime: NOW + 120, endTime: NOW + 600 }), '/*');
    expect(refusal(() => verifier().verify(early, { rawPath: PATH })).reason).toBe('edgeauth_not_yet_valid');
    const skewed = akamaiAclToken(opts({ startTime: NOW + 30, endTime: NOW + 600 }), '/*');
    expect(verifier().verify(skewed, { rawPath: PATH }).tenant).toBe('acme');
  });

  it('refuses a tampered token (403) before saying it expired', () => {
    const token = akamaiAclToken(opts(), '/keys/movie-1/*');
    const widened = token.replace('acl=/keys/movie-1/*', 'acl=/*');
    expect(refusal(() => verifier().verify(widened, { rawPath: PATH })).reason).toBe('edgeauth_hmac_mismatch');
    const expired = akamaiAclToken(opts({ startTime: NOW - 600, endTime: NOW - 1 }), '/*');
    const later = expired.replace(/exp=\d+/, `exp=${NOW + 999}`);
    expect(refusal(() => verifier().verify(later, { rawPath: PATH })).reason).toBe('edgeauth_hmac_mismatch');
    const flipped = token.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    expect(refusal(() => verifier().verify(flipped, { rawPath: PATH })).reason).toBe('edgeauth_hmac_mismatch');
  });

  it('binds a token to its client IP (IPv4-mapped spelling too), escaped early or not', () => {
    for (const escapeEarly of [false, true]) {
      const token = akamaiAclToken(opts({ ip: '203.0.113.9', escapeEarly }), '/*');
      expect(verifier().verify(token, { rawPath: PATH, clientIp: '203.0.113.9' }).tenant).toBe('acme');
      expect(verifier().verify(token, { rawPath: PATH, clientIp: '::ffff:203.0.113.9' }).tenant).toBe('acme');
      expect(refusal(() => verifier().verify(token, { rawPath: PATH, clientIp: '203.0.113.10' })).reason).toBe(
        'edgeauth_ip_mismatch',
      );
      expect(refusal(() => verifier().verify(token, { rawPath: PATH })).reason).toBe('edgeauth_ip_mismatch');
    }
    const v6 = akamaiAclToken(opts({ ip: '2001:db8::1', escapeEarly: true, sessionId: 'a b~c' }), '/*');
    expect(verifier().verify(v6, { rawPath: PATH, clientIp: '2001:db8::1' }).id).toBe('a b~c');
  });

  it('includes the salt when configured', () => {
    const token = akamaiAclToken(opts({ salt: 'pepper' }), '/*');
    expect(verifier({ salt: 'pepper' }).verify(token, { rawPath: PATH }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(token, { rawPath: PATH })).reason).toBe('edgeauth_hmac_mismatch');
    expect(refusal(() => verifier({ salt: 'salt' }).verify(token, { rawPath: PATH })).status).toBe(403);
  });

  it.each(['sha1', 'md5'] as const)('accepts HMAC-%s only when configured', (algorithm) => {
    const token = akamaiAclToken(opts({ algorithm }), '/*');
    expect(verifier({ algorithm }).verify(token, { rawPath: PATH }).tenant).toBe('acme');
    expect(refusal(() => verifier().verify(token, { rawPath: PATH }))).toEqual({
      status: 403,
      reason: 'edgeauth_hmac_mismatch',
    });
    const sha256 = akamaiAclToken(opts(), '/*');
    expect(refusal(() => verifier({ algorithm }).verify(sha256, { rawPath: PATH })).status).toBe(403);
  });

  it.each([
    ['empty', ''],
    ['no hmac', 'exp=1~acl=/*'],
    ['hmac not last', `hmac=${'a'.repeat(64)}~exp=1`],
    ['unknown field', `exp=1~acl=/*~foo=1~hmac=${'a'.repeat(64)}`],
    ['duplicate field', `exp=1~exp=2~hmac=${'a'.repeat(64)}`],
    ['no exp', `acl=/*~hmac=${'a'.repeat(64)}`],
    ['exp not a number', `exp=soon~hmac=${'a'.repeat(64)}`],
    ['upper-case hmac', `exp=1~hmac=${'A'.repeat(64)}`],
    ['empty field', `exp=1~acl=~hmac=${'a'.repeat(64)}`],
    ['too long', `exp=1~acl=/${'a'.repeat(5000)}~hmac=${'a'.repeat(64)}`],
  ])('answers 401 for a malformed token (%s)', (_why, token) => {
    expect(refusal(() => verifier().verify(token, { rawPath: PATH })).status).toBe(401);
    expect(() => parseEdgeAuthToken(token)).toThrow(UnauthorizedError);
  });

  it('says what is wrong with an hmac: its digits, or their count', () => {
    for (const hmac of ['00', 'A'.repeat(64), 'a'.repeat(65)]) {
      expect(() => parseEdgeAuthToken(`exp=1~hmac=${hmac}`)).toThrow(/hmac must be 32 to 64 lower-case hex digits/);
    }
  });
});

describe('ACL matching', () => {
  it.each([
    ['/keys/movie-1/*', '/keys/movie-1/../movie-2/k'],
    ['/keys/movie-1/*', '/keys/movie-1/%2e%2e/movie-2/k'],
    ['/keys/movie-1*', '/keys/movie-1%2F..%2Fmovie-2/k'],
    ['/keys/*', '/keys/a\\b'],
    ['/keys/*41/k', '/keys/x%41/k'],
    ['/keys/*', '/keys/%zz/k'],
  ])('%s does not cover %s', (acl, path) => {
    expect(aclCovers(acl, path)).toBe(false);
  });

  it('covers a path with other escapes when it matches both as received and decoded', () => {
    expect(aclCovers('/sessions/hls/r1/*', '/sessions/hls/r1/seg%20001.ts')).toBe(true);
    expect(aclCovers('/sessions/hls/r1/seg 001.ts', '/sessions/hls/r1/seg%20001.ts')).toBe(false);
  });

  it('matches * like a regular expression .* would (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', '/', '*');
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 8 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 10 }),
        (entry, path) => {
          const regex = new RegExp(
            `^${entry
              .split('*')
              .map((p) => p.replace(/[/]/g, '\\/'))
              .join('.*')}$`,
            's',
          );
          expect(aclEntryMatches(entry, path)).toBe(regex.test(path));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('EdgeAuthVerifier against akamai-edgeauth (property)', () => {
  const text = fc.string({
    unit: fc.constantFrom('a', 'Z', '0', '-', '.', ' ', '=', '%', '~', '!'),
    minLength: 1,
    maxLength: 12,
  });
  const segment = fc.string({ unit: fc.constantFrom('a', 'b', '1', '-', '_'), minLength: 1, maxLength: 6 });

  it('accepts every token the generator makes for a covered path, and refuses any one-character change', () => {
    fc.assert(
      fc.property(
        fc.record({
          segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
          wildcard: fc.boolean(),
          escapeEarly: fc.boolean(),
          sessionId: fc.option(text, { nil: undefined }),
          payload: fc.option(text, { nil: undefined }),
          ip: fc.option(fc.constantFrom('198.51.100.7', '2001:db8::7'), { nil: undefined }),
          salt: fc.option(segment, { nil: undefined }),
          at: fc.nat(),
        }),
        (c) => {
          const path = `/${c.segments.join('/')}`;
          const acl = c.wildcard ? `/${c.segments[0]}/*` : path;
          if (c.wildcard && c.segments.length === 1) return;
          // escapeEarly=false leaves `~` in id/data, which would split the token: the generator cannot express it.
          if (!c.escapeEarly && [c.sessionId, c.payload].some((v) => v?.includes('~'))) return;
          const token = akamaiAclToken(
            opts({ escapeEarly: c.escapeEarly, sessionId: c.sessionId, payload: c.payload, ip: c.ip, salt: c.salt }),
            acl,
          );
          const v = verifier({ ...(c.salt ? { salt: c.salt } : {}) });
          const req = { rawPath: path, clientIp: c.ip };
          expect(v.verify(token, req).tenant).toBe('acme');
          const i = c.at % token.length;
          const changed = `${token.slice(0, i)}${token[i] === 'a' ? 'b' : 'a'}${token.slice(i + 1)}`;
          expect([401, 403]).toContain(refusal(() => v.verify(changed, req)).status);
        },
      ),
      { numRuns: 300 },
    );
  });
});
