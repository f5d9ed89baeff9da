import { RateLimiter } from '../../../src/http/rate-limit';
import { loadConfig } from '../../../src/config';

describe('RateLimiter', () => {
  it('allows perMinute counted requests, then asks to wait until a token is back', () => {
    let now = 0;
    const limiter = new RateLimiter(60, 10, () => now);
    for (let i = 0; i < 60; i += 1) expect(limiter.tryTake('a')).toBe(0);
    expect(limiter.tryTake('a')).toBe(1);
    now += 1000;
    expect(limiter.tryTake('a')).toBe(0);
    expect(limiter.retryAfter('b')).toBe(0);
  });

  it('never holds more than maxKeys buckets, forgetting the least recently used', () => {
    const limiter = new RateLimiter(1, 1000, () => 0);
    for (let i = 0; i < 100_000; i += 1) limiter.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.size).toBe(1000);
    // The most recent keys are still limited; the oldest were forgotten (a full bucket again).
    expect(limiter.retryAfter('10.1.134.159')).toBeGreaterThan(0);
    expect(limiter.retryAfter('10.0.0.0')).toBe(0);
  });

  it('keeps a key it keeps seeing while others rotate through', () => {
    const limiter = new RateLimiter(1, 10, () => 0);
    limiter.take('attacker');
    for (let i = 0; i < 100; i += 1) {
      limiter.take(`rotating-${i}`);
      expect(limiter.retryAfter('attacker')).toBeGreaterThan(0);
    }
    expect(limiter.size).toBe(10);
  });
});

describe('abuse limit configuration', () => {
  it('defaults to 120 failed requests per minute per IP, per-credential off', () => {
    expect(loadConfig({}).abuseLimits).toEqual({
      failedAuthPerMinute: 120,
      perCredentialPerMinute: 0,
      maxTrackedClients: 100_000,
    });
  });

  it('reads 0 and off as disabled, and names the variable when invalid', () => {
    expect(loadConfig({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'off' }).abuseLimits.failedAuthPerMinute).toBe(0);
    expect(loadConfig({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: '0' }).abuseLimits.failedAuthPerMinute).toBe(0);
    expect(loadConfig({ KEYPLANE_RATE_LIMIT_PER_CREDENTIAL: '600' }).abuseLimits.perCredentialPerMinute).toBe(600);
    expect(() => loadConfig({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'lots' })).toThrow(/KEYPLANE_RATE_LIMIT_FAILED_AUTH/);
    expect(() => loadConfig({ KEYPLANE_RATE_LIMIT_PER_CREDENTIAL: '-1' })).toThrow(
      /KEYPLANE_RATE_LIMIT_PER_CREDENTIAL/,
    );
    expect(() => loadConfig({ KEYPLANE_RATE_LIMIT_MAX_CLIENTS: '5' })).toThrow(/KEYPLANE_RATE_LIMIT_MAX_CLIENTS/);
  });
});
