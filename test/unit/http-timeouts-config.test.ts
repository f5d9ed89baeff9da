import { ConfigError, DEFAULT_HTTP_TIMEOUTS, describeConfig, loadConfig } from '../../src/config';
import { connectionsCheckingInterval, createHttpServer } from '../../src/server';

describe('HTTP timeouts in the configuration', () => {
  it('defaults to headers 10 s, request 30 s, keep-alive 65 s', () => {
    expect(loadConfig({}).timeouts).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
    });
    expect(describeConfig(loadConfig({})).timeouts).toBe('headers 10000 ms, request 30000 ms, keep-alive 65000 ms');
  });

  it('reads the three variables', () => {
    const c = loadConfig({
      KEYPLANE_HEADERS_TIMEOUT_MS: '2000',
      KEYPLANE_REQUEST_TIMEOUT_MS: '5000',
      KEYPLANE_KEEP_ALIVE_TIMEOUT_MS: '120000',
    });
    expect(c.timeouts).toEqual({ headersTimeoutMs: 2000, requestTimeoutMs: 5000, keepAliveTimeoutMs: 120_000 });
  });

  it.each([
    [{ KEYPLANE_HEADERS_TIMEOUT_MS: 'soon' }, /KEYPLANE_HEADERS_TIMEOUT_MS: must be an integer/],
    [{ KEYPLANE_HEADERS_TIMEOUT_MS: '0' }, /KEYPLANE_HEADERS_TIMEOUT_MS: must be between 100/],
    [{ KEYPLANE_REQUEST_TIMEOUT_MS: '9999999' }, /KEYPLANE_REQUEST_TIMEOUT_MS: must be between/],
    [{ KEYPLANE_KEEP_ALIVE_TIMEOUT_MS: '-1' }, /KEYPLANE_KEEP_ALIVE_TIMEOUT_MS: must be an integer/],
    [
      { KEYPLANE_HEADERS_TIMEOUT_MS: '20000', KEYPLANE_REQUEST_TIMEOUT_MS: '10000' },
      /KEYPLANE_REQUEST_TIMEOUT_MS: must be at least KEYPLANE_HEADERS_TIMEOUT_MS/,
    ],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('applies them to the server it creates, checking connections often enough for them to bite', () => {
    const server = createHttpServer(() => undefined, DEFAULT_HTTP_TIMEOUTS);
    expect(server.headersTimeout).toBe(10_000);
    expect(server.requestTimeout).toBe(30_000);
    expect(server.keepAliveTimeout).toBe(65_000);
    expect(connectionsCheckingInterval(DEFAULT_HTTP_TIMEOUTS)).toBe(1000);
    expect(connectionsCheckingInterval({ ...DEFAULT_HTTP_TIMEOUTS, headersTimeoutMs: 300 })).toBe(75);
  });
});
