import { ConfigError, describeConfig, loadConfig } from '../../../src/config';

const URL_WITH_PASSWORD = 'postgres://keyplane:pa55-w0rd-secret@db.internal:5433/keyplane?sslmode=verify-full';

describe('KEYPLANE_STORE=postgres and KEYPLANE_DATABASE_*', () => {
  it('reads the connection string, pool size and statement timeout (defaults 10 and 5000 ms)', () => {
    const config = loadConfig({ KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD });
    expect(config.store).toBe('postgres');
    expect(config.database).toEqual({ url: URL_WITH_PASSWORD, poolSize: 10, statementTimeoutMs: 5000 });
    const tuned = loadConfig({
      KEYPLANE_STORE: 'postgres',
      KEYPLANE_DATABASE_URL: 'postgresql://db/keyplane',
      KEYPLANE_DATABASE_POOL_SIZE: '25',
      KEYPLANE_DATABASE_STATEMENT_TIMEOUT_MS: '2000',
    });
    expect(tuned.database).toMatchObject({ poolSize: 25, statementTimeoutMs: 2000 });
  });

  it.each([
    [{}, /KEYPLANE_DATABASE_URL: is required when KEYPLANE_STORE=postgres/],
    [{ KEYPLANE_DATABASE_URL: 'mysql://u:pa55-w0rd-secret@h/db' }, /KEYPLANE_DATABASE_URL: must start with postgres/],
    [{ KEYPLANE_DATABASE_URL: 'pa55-w0rd-secret' }, /KEYPLANE_DATABASE_URL: must be a connection string/],
    [{ KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD, KEYPLANE_DATABASE_POOL_SIZE: '0' }, /KEYPLANE_DATABASE_POOL_SIZE/],
    [{ KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD, KEYPLANE_DATABASE_POOL_SIZE: '501' }, /KEYPLANE_DATABASE_POOL_SIZE/],
    [
      { KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD, KEYPLANE_DATABASE_STATEMENT_TIMEOUT_MS: 'soon' },
      /KEYPLANE_DATABASE_STATEMENT_TIMEOUT_MS/,
    ],
  ])('rejects %j naming the variable, never echoing the password', (env, message) => {
    const load = () => loadConfig({ KEYPLANE_STORE: 'postgres', ...env });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
    try {
      load();
    } catch (err) {
      expect((err as Error).message).not.toContain('pa55-w0rd-secret');
    }
  });

  it('shows user, host and database in the start summary, never the password', () => {
    const config = loadConfig({ KEYPLANE_STORE: 'postgres', KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD });
    const summary = describeConfig(config);
    expect(summary.store).toBe('postgres (keyplane@db.internal:5433/keyplane, pool 10, statement timeout 5000 ms)');
    expect(JSON.stringify(summary)).not.toContain('pa55-w0rd-secret');
  });

  it('ignores KEYPLANE_DATABASE_URL for the other stores', () => {
    expect(loadConfig({ KEYPLANE_DATABASE_URL: URL_WITH_PASSWORD }).database).toBeUndefined();
  });
});
