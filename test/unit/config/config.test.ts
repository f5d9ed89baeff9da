import path from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../../../src/config';

describe('loadConfig', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:8080',
      leaseTtlSeconds: 600,
      store: 'sqlite',
    });
    expect(c.dataDir).toBe(path.resolve('./data'));
  });

  it.each([
    [{ KEYPLANE_PORT: 'eighty' }, /KEYPLANE_PORT: must be an integer/],
    [{ KEYPLANE_PORT: '70000' }, /KEYPLANE_PORT: must be between/],
    [{ KEYPLANE_LEASE_TTL_SECONDS: '0' }, /KEYPLANE_LEASE_TTL_SECONDS/],
    [{ KEYPLANE_PUBLIC_URL: 'not a url' }, /KEYPLANE_PUBLIC_URL: must be an absolute URL/],
    [
      { KEYPLANE_KEY_URL_TEMPLATE: 'https://k.example.com/{resourceId}' },
      /KEYPLANE_KEY_URL_TEMPLATE: must contain \{kid\}/,
    ],
    [{ KEYPLANE_ADMIN_KEY: 'short' }, /KEYPLANE_ADMIN_KEY: must be at least 24/],
    [{ KEYPLANE_STORE: 'mysql' }, /KEYPLANE_STORE: must be one of sqlite, dynamodb, postgres/],
    [{ KEYPLANE_STORE: 'dynamodb' }, /KEYPLANE_TABLE: is required/],
    [{ KEYPLANE_DELIVERY_CERT_SHA256: 'abc' }, /KEYPLANE_DELIVERY_CERT_SHA256/],
    [{ KEYPLANE_FAIRPLAY_URI_TEMPLATE: 'skd://x/"{kid}' }, /KEYPLANE_FAIRPLAY_URI_TEMPLATE: must be an skd:\/\/ URI/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '0' }, /KEYPLANE_AUDIT_RETENTION_DAYS: must be at least 1 day.*"forever"/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '-5' }, /KEYPLANE_AUDIT_RETENTION_DAYS: must be a whole number of days/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '1.5' }, /KEYPLANE_AUDIT_RETENTION_DAYS: must be a whole number of days/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '90d' }, /KEYPLANE_AUDIT_RETENTION_DAYS: must be a whole number of days/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: 'never' }, /KEYPLANE_AUDIT_RETENTION_DAYS: .*"forever"/],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '36501' }, /KEYPLANE_AUDIT_RETENTION_DAYS: must be between 1 and 36500/],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    [{}, 90, '90 days'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '' }, 90, '90 days'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '1' }, 1, '1 day'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: ' 365 ' }, 365, '365 days'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: '36500' }, 36500, '36500 days'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: 'forever' }, 'forever', 'forever'],
    [{ KEYPLANE_AUDIT_RETENTION_DAYS: 'Forever' }, 'forever', 'forever'],
  ])('reads the audit retention from %j and shows it in the summary', (env, retention, shown) => {
    const config = loadConfig(env);
    expect(config.auditRetention).toBe(retention);
    expect(describeConfig(config).auditRetention).toBe(shown);
  });

  it('never prints the admin key in the summary', () => {
    const summary = JSON.stringify(describeConfig(loadConfig({ KEYPLANE_ADMIN_KEY: 'super-secret-admin-key-123456' })));
    expect(summary).not.toContain('super-secret');
  });
});

describe('describeConfig: the start summary names the real store and key', () => {
  it('shows the DynamoDB table, its region and the KMS key', () => {
    const config = loadConfig({
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: 'keyplane-prod',
      AWS_REGION: 'eu-west-1',
      KEYPLANE_KMS_KEY_ID: 'alias/keyplane-prod',
    });
    expect(describeConfig(config)).toMatchObject({
      store: 'dynamodb (table keyplane-prod, region eu-west-1)',
      cipher: 'aws-kms (key alias/keyplane-prod, region eu-west-1)',
    });
  });

  it('shows the SQLite data dir and the local master key', () => {
    const config = loadConfig({ KEYPLANE_DATA_DIR: '/var/lib/keyplane' });
    expect(describeConfig(config)).toMatchObject({
      store: 'sqlite (/var/lib/keyplane)',
      cipher: 'local master key (/var/lib/keyplane)',
    });
  });
});
