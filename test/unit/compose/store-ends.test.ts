import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config';
import { openCipher, parseStoreSpec, specText, StoreSpecError } from '../../../src/compose/store-ends';

const config = (env: Record<string, string> = {}) =>
  loadConfig({ KEYPLANE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'kp-ends-')), ...env });

describe('store specs', () => {
  it('reads sqlite:DIR, dynamodb and dynamodb:TABLE', () => {
    expect(parseStoreSpec('sqlite:/var/lib/kp', '--from')).toEqual({ backend: 'sqlite', location: '/var/lib/kp' });
    expect(parseStoreSpec('dynamodb', '--to')).toEqual({ backend: 'dynamodb', location: undefined });
    expect(parseStoreSpec('dynamodb:keys', '--to')).toEqual({ backend: 'dynamodb', location: 'keys' });
    const pg = parseStoreSpec('postgres:postgres://kp:secret@db:5432/kp', '--to');
    expect(pg).toEqual({ backend: 'postgres', location: 'postgres://kp:secret@db:5432/kp' });
    expect(specText(pg)).toBe('postgres:postgres://kp:***@db:5432/kp');
  });

  it('reads postgres:URL and never shows its password', () => {
    const spec = parseStoreSpec('postgres:postgres://kp:s3cret@db:5432/kp', '--to');
    expect(spec).toEqual({ backend: 'postgres', location: 'postgres://kp:s3cret@db:5432/kp' });
    expect(specText(spec)).toBe('postgres:postgres://kp:***@db:5432/kp');
  });

  it('hides a password pg reads from the query or a key=value string too', () => {
    const text = (location: string) => specText(parseStoreSpec(`postgres:${location}`, '--to'));
    expect(text('postgres://kp@db/kp?sslmode=verify-full&password=s3cret')).toBe(
      'postgres:postgres://kp@db/kp?sslmode=verify-full&password=***',
    );
    expect(text('postgres://kp@db/kp?PASSWORD=s3cret&sslpassword=k3y')).toBe(
      'postgres:postgres://kp@db/kp?PASSWORD=***&sslpassword=***',
    );
    expect(text("host=db user=kp password='s3 cret' dbname=kp")).toBe(
      'postgres:host=db user=kp password=*** dbname=kp',
    );
    expect(text('host=db password=s3cret')).toBe('postgres:host=db password=***');
  });

  it('refuses unknown backends, empty locations and sqlite without a directory', () => {
    const cases: Array<[string, string]> = [
      ['mysql:x', '--to must be sqlite:DIR, dynamodb[:TABLE] or postgres[:URL], not "mysql:x"'],
      ['dynamodb:', '--to: nothing after "dynamodb:"'],
      ['sqlite', '--to: sqlite needs a directory (sqlite:DIR)'],
    ];
    for (const [spec, message] of cases) {
      expect(() => parseStoreSpec(spec, '--to')).toThrow(new StoreSpecError(message));
    }
  });
});

describe('ciphers of a migration end', () => {
  const key = crypto.randomBytes(32);

  it('a master key file opens what it sealed; the directory default needs an existing key for a source', async () => {
    const c = config();
    const file = path.join(c.dataDir, 'other.key');
    fs.writeFileSync(file, key.toString('base64'), { mode: 0o600 });
    const cipher = openCipher(c, { backend: 'sqlite', location: c.dataDir }, { masterKeyFile: file }, 'from', false);
    const context = { resourceId: 'r', kid: crypto.randomUUID() };
    const sealed = await cipher.seal(Buffer.alloc(32, 7), context);
    expect(await cipher.open(sealed, context)).toEqual(Buffer.alloc(32, 7));

    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-ends-none-'));
    expect(() => openCipher(c, { backend: 'sqlite', location: empty }, {}, 'from', false)).toThrow(
      /master\.key does not exist: name the source cipher with --from-master-key-file or --from-kms-key-id/,
    );
    expect(openCipher(c, { backend: 'sqlite', location: empty }, {}, 'to', true).name).toBe('local');
    expect(fs.existsSync(path.join(empty, 'master.key'))).toBe(true);
  });

  it('refuses a master key file that is not a base64 32-byte key, naming the option', () => {
    const c = config();
    const file = path.join(c.dataDir, 'short.key');
    fs.writeFileSync(file, 'c2hvcnQ=', { mode: 0o600 });
    expect(() => openCipher(c, { backend: 'dynamodb' }, { masterKeyFile: file }, 'to', true)).toThrow(
      `--to-master-key-file: ${file} does not hold a base64 32-byte key`,
    );
  });

  it('takes a KMS key from the option, else from KEYPLANE_KMS_KEY_ID', () => {
    expect(openCipher(config(), { backend: 'dynamodb' }, { kmsKeyId: 'k-1' }, 'to', true).name).toBe('kms');
    const env = config({ KEYPLANE_KMS_KEY_ID: 'k-2' });
    expect(openCipher(env, { backend: 'sqlite', location: env.dataDir }, {}, 'from', false).name).toBe('kms');
  });
});
