import crypto from 'node:crypto';
import { looksLikeJwt, PlaybackTokenService } from '../../../src/auth/playback-tokens';
import { BadRequestError, GoneError, UnauthorizedError } from '../../../src/errors';

const k1 = { kid: 'k1', secret: crypto.randomBytes(32) };
const k2 = { kid: 'k2', secret: crypto.randomBytes(32) };
const T0 = new Date('2030-01-01T00:00:00Z');

function clock(start: Date) {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (s: number) => (now += s * 1000) };
}

describe('PlaybackTokenService', () => {
  it('verifies its tokens until exp, and answers 410 from exp on', async () => {
    const c = clock(T0);
    const service = new PlaybackTokenService([k1], 3600, c.now);
    const { token, expiresAt } = await service.issue({ resourceId: 'vod', ttlSeconds: 60 });
    expect(expiresAt.getTime() - T0.getTime()).toBe(60_000);
    c.advance(59);
    expect(await service.verify(token)).toMatchObject({ resourceId: 'vod' });
    c.advance(1);
    await expect(service.verify(token)).rejects.toBeInstanceOf(GoneError);
  });

  it('carries the tenant it was minted for in `ten`; a token without one is default', async () => {
    const service = new PlaybackTokenService([k1], 3600, () => T0);
    const { token } = await service.issue({ resourceId: 'vod', tenant: 'acme' });
    const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
    expect(payload.ten).toBe('acme');
    expect(await service.verify(token)).toMatchObject({ resourceId: 'vod', tenant: 'acme' });
    expect((await service.verify((await service.issue({ resourceId: 'vod' })).token)).tenant).toBe('default');
    await expect(service.issue({ resourceId: 'vod', tenant: '*' })).rejects.toThrow(/cannot be minted for tenant/);
  });

  it('reads a token minted before tenants (no `ten`) as default, and refuses a malformed `ten`', async () => {
    const { SignJWT } = await import('jose');
    const iat = Math.floor(T0.getTime() / 1000);
    const mint = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .setSubject('vod')
        .setAudience('keyplane-playback')
        .setJti(crypto.randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + 60)
        .sign(k1.secret);
    const service = new PlaybackTokenService([k1], 3600, () => T0);
    expect((await service.verify(await mint({}))).tenant).toBe('default');
    await expect(service.verify(await mint({ ten: 'Not A Tenant' }))).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(service.verify(await mint({ ten: '*' }))).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('signs with the first key and verifies with any, so keys can rotate', async () => {
    const before = new PlaybackTokenService([k1], 3600, () => T0);
    const { token } = await before.issue({ resourceId: 'vod', kids: ['6C5F5206-7D98-4808-84D8-94F132C1E9FE'] });
    const after = new PlaybackTokenService([k2, k1], 3600, () => T0);
    const grant = await after.verify(token);
    expect([...(grant.kids ?? [])]).toEqual(['6c5f5206-7d98-4808-84d8-94f132c1e9fe']);
    const dropped = new PlaybackTokenService([k2], 3600, () => T0);
    await expect(dropped.verify(token)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(
      JSON.parse(
        Buffer.from((await after.issue({ resourceId: 'x' })).token.split('.')[0] as string, 'base64url').toString(),
      ).kid,
    ).toBe('k2');
  });

  it('defaults to 300 s, capped by the maximum TTL', async () => {
    const long = await new PlaybackTokenService([k1], 3600, () => T0).issue({ resourceId: 'vod' });
    expect(long.expiresAt.getTime() - T0.getTime()).toBe(300_000);
    const short = await new PlaybackTokenService([k1], 30, () => T0).issue({ resourceId: 'vod' });
    expect(short.expiresAt.getTime() - T0.getTime()).toBe(30_000);
    await expect(
      new PlaybackTokenService([k1], 30, () => T0).issue({ resourceId: 'vod', ttlSeconds: 31 }),
    ).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe('looksLikeJwt', () => {
  it.each([
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', true],
    ['kp_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', false],
    ['an-admin-key-with-no-dots-0123456789', false],
    ['a.b', false],
  ])('%s → %s', (value, expected) => {
    expect(looksLikeJwt(value)).toBe(expected);
  });
});

describe('PlaybackTokenService: bounded lifetimes and one spelling', () => {
  const t0 = Math.floor(T0.getTime() / 1000);
  const sign = (payload: object) => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'HS256', kid: 'k1' })}.${enc(payload)}`;
    return `${input}.${crypto.createHmac('sha256', k1.secret).update(input).digest('base64url')}`;
  };
  const claims = (over: object) => ({ sub: 'vod', aud: 'keyplane-playback', jti: 'j', iat: t0, exp: t0 + 60, ...over });
  const service = new PlaybackTokenService([k1], 3600, () => T0);

  it('accepts iat up to 60 s ahead (clock skew) and a lifetime up to the maximum', async () => {
    await expect(service.verify(sign(claims({ iat: t0 + 60, exp: t0 + 120 })))).resolves.toMatchObject({ jti: 'j' });
    await expect(service.verify(sign(claims({ exp: t0 + 3600 })))).resolves.toMatchObject({ jti: 'j' });
  });

  it.each([
    ['iat in the future', { iat: t0 + 61, exp: t0 + 120 }, /issued in the future/],
    ['iat far in the future', { iat: t0 + 86400 * 365, exp: t0 + 86400 * 365 + 60 }, /issued in the future/],
    ['no exp', { exp: undefined }, /Invalid playback token/],
    ['no iat', { iat: undefined }, /Invalid playback token/],
    ['a lifetime above the maximum', { exp: t0 + 3601 }, /longer than the maximum of 3600 s/],
    ['a lifetime of ten years', { iat: t0 - 10, exp: t0 + 86400 * 3650 }, /longer than the maximum/],
  ])('refuses a token with %s (401)', async (_name, over, message) => {
    const err = await service.verify(sign(claims(over))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as Error).message).toMatch(message);
  });

  it('keeps 410 for an expired token', async () => {
    await expect(service.verify(sign(claims({ iat: t0 - 120, exp: t0 - 60 })))).rejects.toBeInstanceOf(GoneError);
  });

  it('refuses any spelling but the canonical one, and never quotes the token', async () => {
    const token = sign(claims({}));
    await expect(service.verify(token)).resolves.toBeDefined();
    for (const variant of [`${token}=`, `${token} `, ` ${token}`, `${token}.x`, `${token}\n`, `${token}/`]) {
      const err = await service.verify(variant).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnauthorizedError);
      expect((err as Error).message).not.toContain(token.split('.')[2]);
    }
  });
});
