import { describeConfig, loadConfig } from '../../../src/config';

const KEY = '0123456789abcdef0123456789abcdef';

describe('KEYPLANE_EDGEAUTH_* and KEYPLANE_TOKEN_COOKIE', () => {
  it('is off by default, with the default playback-token cookie', () => {
    const c = loadConfig({});
    expect(c.delivery.edgeAuth).toBeUndefined();
    expect(c.delivery.tokenCookie).toBe('keyplane_token');
    expect(describeConfig(c).delivery).toMatchObject({ edgeAuth: 'off', tokenCookie: 'keyplane_token' });
  });

  it('reads the key, transition key, algorithm, salt, tenant and token name', () => {
    const c = loadConfig({
      KEYPLANE_EDGEAUTH_KEY: KEY,
      KEYPLANE_EDGEAUTH_TRANSITION_KEY: KEY.toUpperCase().split('').reverse().join(''),
      KEYPLANE_EDGEAUTH_ALGORITHM: 'md5',
      KEYPLANE_EDGEAUTH_SALT: 'pepper',
      KEYPLANE_EDGEAUTH_TENANT: 'acme',
      KEYPLANE_EDGEAUTH_TOKEN_NAME: 'cdn_auth',
      KEYPLANE_TOKEN_COOKIE: 'player_token',
    });
    expect(c.delivery.edgeAuth).toMatchObject({
      algorithm: 'md5',
      salt: 'pepper',
      tenant: 'acme',
      tokenName: 'cdn_auth',
    });
    expect(c.delivery.edgeAuth?.keys.map((k) => k.toString('hex'))).toEqual([KEY, 'fedcba9876543210fedcba9876543210']);
    expect(c.delivery.tokenCookie).toBe('player_token');
    const summary = JSON.stringify(describeConfig(c));
    expect(summary).toContain('HMAC-MD5 for tenant acme (cdn_auth, hdnts, with a transition key)');
    expect(summary).not.toContain(KEY);
    expect(summary).not.toContain('pepper');
  });

  it('defaults to HMAC-SHA256, __token__ and the default tenant', () => {
    expect(loadConfig({ KEYPLANE_EDGEAUTH_KEY: KEY }).delivery.edgeAuth).toMatchObject({
      algorithm: 'sha256',
      tokenName: '__token__',
      tenant: 'default',
    });
  });

  it.each([
    [{ KEYPLANE_EDGEAUTH_KEY: 'not-hex' }, /KEYPLANE_EDGEAUTH_KEY: must be hex/],
    [{ KEYPLANE_EDGEAUTH_KEY: 'abcd' }, /KEYPLANE_EDGEAUTH_KEY: must be hex/],
    [{ KEYPLANE_EDGEAUTH_KEY: `${KEY}a` }, /KEYPLANE_EDGEAUTH_KEY: must be hex/],
    [
      { KEYPLANE_EDGEAUTH_TRANSITION_KEY: KEY },
      /KEYPLANE_EDGEAUTH_KEY: is required when KEYPLANE_EDGEAUTH_TRANSITION_KEY/,
    ],
    [{ KEYPLANE_EDGEAUTH_TENANT: 'acme' }, /KEYPLANE_EDGEAUTH_KEY: is required/],
    [
      { KEYPLANE_EDGEAUTH_KEY: KEY, KEYPLANE_EDGEAUTH_ALGORITHM: 'sha512' },
      /KEYPLANE_EDGEAUTH_ALGORITHM: must be one of/,
    ],
    [{ KEYPLANE_EDGEAUTH_KEY: KEY, KEYPLANE_EDGEAUTH_TENANT: '*' }, /KEYPLANE_EDGEAUTH_TENANT: must be one tenant/],
    [
      { KEYPLANE_EDGEAUTH_KEY: KEY, KEYPLANE_EDGEAUTH_TOKEN_NAME: 'token' },
      /KEYPLANE_EDGEAUTH_TOKEN_NAME: must differ/,
    ],
    [{ KEYPLANE_EDGEAUTH_KEY: KEY, KEYPLANE_EDGEAUTH_TOKEN_NAME: 'a b' }, /KEYPLANE_EDGEAUTH_TOKEN_NAME: must be 1-64/],
    [{ KEYPLANE_TOKEN_COOKIE: 'a;b' }, /KEYPLANE_TOKEN_COOKIE: must be 1-64/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
