import { ConfigError } from '../../../src/errors';
import { describeSessions, loadSessionsConfig } from '../../../src/config/sessions';

describe('loadSessionsConfig', () => {
  it('defaults: no secret (derived), 4 h sessions, not bound to addresses', () => {
    const config = loadSessionsConfig({});
    expect(config).toEqual({
      ttlSeconds: 14400,
      bindClientIp: false,
      segmentMaxBytes: 64 * 1024 * 1024,
      segmentTimeoutMs: 60_000,
    });
    expect(describeSessions(config).secret).toMatch(/derived/);
  });

  it('takes a secret of 32 characters or more, never printing it', () => {
    const secret = 'x'.repeat(32);
    const config = loadSessionsConfig({ KEYPLANE_SESSION_SECRET: secret, KEYPLANE_SESSION_BIND_IP: 'true' });
    expect(config.secret?.toString()).toBe(secret);
    expect(config.bindClientIp).toBe(true);
    expect(JSON.stringify(describeSessions(config))).not.toContain(secret);
  });

  it.each([
    ['KEYPLANE_SESSION_SECRET', 'x'.repeat(31)],
    ['KEYPLANE_SESSION_TTL_SECONDS', '59'],
    ['KEYPLANE_SESSION_TTL_SECONDS', '86401'],
    ['KEYPLANE_SESSION_BIND_IP', 'yes'],
    ['KEYPLANE_SESSION_SEGMENT_MAX_BYTES', '10'],
    ['KEYPLANE_SESSION_SEGMENT_TIMEOUT_MS', '0'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => loadSessionsConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadSessionsConfig({ [name]: value })).toThrow(name);
  });
});
