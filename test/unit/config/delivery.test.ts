import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config';

const SECRET32 = Buffer.alloc(32, 7).toString('base64');

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('delivery configuration', () => {
  it('has safe defaults: no SigV4, no secure links, no proxy trusted, tokens capped at a day', () => {
    const { delivery } = loadConfig({});
    expect(delivery).toMatchObject({ tokenMaxTtlSeconds: 86400, trustedProxies: false });
    expect(delivery.sigv4).toBeUndefined();
    expect(delivery.secureLinks).toBeUndefined();
  });

  it('reads every variable', () => {
    const { delivery } = loadConfig({
      KEYPLANE_SIGV4_CREDENTIALS: 'AKIA1111:0123456789abcdef0123:keyserver',
      KEYPLANE_SIGV4_SERVICE: 'keyplane',
      KEYPLANE_SIGV4_REGION: 'eu-west-1',
      KEYPLANE_TOKEN_SIGNING_KEYS: `a:${SECRET32},b:${SECRET32}`,
      KEYPLANE_TOKEN_MAX_TTL_SECONDS: '600',
      KEYPLANE_SECURE_TOKEN_CLIENT_ID: '2675',
      KEYPLANE_SECURE_TOKEN_SECRET: 'abcdef0123456789',
      KEYPLANE_SECURE_TOKEN_ALGORITHM: 'md5',
      KEYPLANE_TRUSTED_PROXIES: 'loopback,10.0.0.0/8',
      KEYPLANE_DELIVERY_ALLOW_IPS: '192.0.2.0/24',
      KEYPLANE_DELIVERY_DENY_IPS: '192.0.2.7',
      KEYPLANE_DELIVERY_ALLOW_ORIGINS: 'https://player.example.com',
    });
    expect(delivery.sigv4).toMatchObject({ service: 'keyplane', region: 'eu-west-1' });
    expect(delivery.tokenSigningKeys?.map((k) => k.kid)).toEqual(['a', 'b']);
    expect(delivery.tokenMaxTtlSeconds).toBe(600);
    expect(delivery.secureLinks).toEqual({ clientId: '2675', secret: 'abcdef0123456789', algorithm: 'md5' });
    expect(delivery.trustedProxies).toEqual(['loopback', '10.0.0.0/8']);
    expect(delivery.globalRules).toEqual({
      allowIps: ['192.0.2.0/24'],
      denyIps: ['192.0.2.7'],
      allowOrigins: ['https://player.example.com'],
    });
  });

  it.each([
    [{ KEYPLANE_SIGV4_CREDENTIALS: 'AKIA1111:tooshort:keyserver' }, 'KEYPLANE_SIGV4_CREDENTIALS'],
    [{ KEYPLANE_SIGV4_CREDENTIALS_FILE: '/nonexistent/creds' }, 'KEYPLANE_SIGV4_CREDENTIALS_FILE'],
    [
      { KEYPLANE_SIGV4_CREDENTIALS: 'AKIA1111:0123456789abcdef0123:keyserver', KEYPLANE_SIGV4_REGION: 'EU WEST' },
      'KEYPLANE_SIGV4_REGION',
    ],
    [{ KEYPLANE_TOKEN_SIGNING_KEYS: 'k1:c2hvcnQ=' }, 'KEYPLANE_TOKEN_SIGNING_KEYS'],
    [{ KEYPLANE_TOKEN_MAX_TTL_SECONDS: '0' }, 'KEYPLANE_TOKEN_MAX_TTL_SECONDS'],
    [{ KEYPLANE_SECURE_TOKEN_SECRET: 'a-secret-without-client-id' }, 'KEYPLANE_SECURE_TOKEN_CLIENT_ID'],
    [
      { KEYPLANE_SECURE_TOKEN_CLIENT_ID: 'client_1', KEYPLANE_SECURE_TOKEN_SECRET: '0123456789abcdef' },
      'KEYPLANE_SECURE_TOKEN_CLIENT_ID',
    ],
    [
      { KEYPLANE_SECURE_TOKEN_CLIENT_ID: '2675', KEYPLANE_SECURE_TOKEN_SECRET: 'short' },
      'KEYPLANE_SECURE_TOKEN_SECRET',
    ],
    [
      {
        KEYPLANE_SECURE_TOKEN_CLIENT_ID: '2675',
        KEYPLANE_SECURE_TOKEN_SECRET: 'abcdef012345678',
        KEYPLANE_SECURE_TOKEN_ALGORITHM: 'md5',
      },
      'KEYPLANE_SECURE_TOKEN_SECRET',
    ],
    [{ KEYPLANE_SECURE_TOKEN_ALGORITHM: 'sha1' }, 'KEYPLANE_SECURE_TOKEN_ALGORITHM'],
    [{ KEYPLANE_TRUSTED_PROXIES: 'true' }, 'KEYPLANE_TRUSTED_PROXIES'],
    [{ KEYPLANE_DELIVERY_ALLOW_IPS: '10.0.0.0/40' }, 'KEYPLANE_DELIVERY_ALLOW_IPS'],
    [{ KEYPLANE_DELIVERY_DENY_IPS: 'localhost' }, 'KEYPLANE_DELIVERY_DENY_IPS'],
    [{ KEYPLANE_DELIVERY_ALLOW_ORIGINS: 'example.com' }, 'KEYPLANE_DELIVERY_ALLOW_ORIGINS'],
  ])('rejects %j naming %s', (env, variable) => {
    expect(errorOf(env).variable).toBe(variable);
  });

  it('refuses a SigV4 credentials file group or others can read, naming it and saying chmod 600', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-cfg-'));
    try {
      const file = path.join(dir, 'creds');
      fs.writeFileSync(file, 'AKIA1111:0123456789abcdef0123:keyserver\n');
      fs.chmodSync(file, 0o644);
      const err = errorOf({ KEYPLANE_SIGV4_CREDENTIALS_FILE: file });
      expect(err.variable).toBe('KEYPLANE_SIGV4_CREDENTIALS_FILE');
      expect(err.message).toContain(file);
      expect(err.message).toMatch(/chmod 600/);
      expect(err.message).not.toContain('0123456789abcdef0123');
      fs.chmodSync(file, 0o600);
      expect(loadConfig({ KEYPLANE_SIGV4_CREDENTIALS_FILE: file }).delivery.sigv4?.credentialsFile).toBe(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wants one SigV4 credential source, and never echoes secrets in errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-cfg-'));
    try {
      const file = path.join(dir, 'creds');
      fs.writeFileSync(file, 'AKIA1111:0123456789abcdef0123:keyserver\n');
      expect(
        errorOf({
          KEYPLANE_SIGV4_CREDENTIALS: 'AKIA2222:0123456789abcdef0123:keyserver',
          KEYPLANE_SIGV4_CREDENTIALS_FILE: file,
        }).variable,
      ).toBe('KEYPLANE_SIGV4_CREDENTIALS_FILE');
      const secret = 'super-secret-value-0123456789';
      const err = errorOf({ KEYPLANE_SIGV4_CREDENTIALS: `AKIA1111:${secret}:wizard` });
      expect(err.message).not.toContain(secret);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summarises delivery settings at start without secrets', () => {
    const config = loadConfig({
      KEYPLANE_SIGV4_CREDENTIALS: 'AKIA1111:sigv4-secret-0123456789:keyserver',
      KEYPLANE_TOKEN_SIGNING_KEYS: `a:${SECRET32}`,
      KEYPLANE_SECURE_TOKEN_CLIENT_ID: '2675',
      KEYPLANE_SECURE_TOKEN_SECRET: 'secure-link-secret-0123',
    });
    const text = JSON.stringify(describeConfig(config));
    expect(text).toContain('hmac-sha256');
    for (const secret of ['sigv4-secret-0123456789', SECRET32, 'secure-link-secret-0123']) {
      expect(text).not.toContain(secret);
    }
  });
});
