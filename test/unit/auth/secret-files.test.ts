import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateTokenKeys } from '../../../src/auth/token-keys';
import { loadOrCreateMasterKey } from '../../../src/keys/local-cipher';
import { checkSecretFileMode, readSecretFile, SecretFileModeError } from '../../../src/util/secret-file';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-secret-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('secret files are refused when group or others can read them', () => {
  it.each([0o644, 0o640, 0o604, 0o660, 0o606, 0o700 | 0o044])(
    'mode %o is refused, naming the file and chmod 600',
    (mode) => {
      const file = path.join(dir, 'secret');
      fs.writeFileSync(file, 'x');
      fs.chmodSync(file, mode);
      expect(() => checkSecretFileMode(file)).toThrow(SecretFileModeError);
      expect(() => readSecretFile(file)).toThrow(
        new RegExp(`^${file} is accessible by group/others .*chmod 600 ${file}$`),
      );
    },
  );

  it.each([0o600, 0o400])('mode %o is accepted', (mode) => {
    const file = path.join(dir, 'secret');
    fs.writeFileSync(file, 'x');
    fs.chmodSync(file, mode);
    expect(readSecretFile(file)).toBe('x');
  });

  it('the token signing key file', () => {
    loadOrCreateTokenKeys(dir);
    const file = path.join(dir, 'token-keys.json');
    fs.chmodSync(file, 0o644);
    expect(() => loadOrCreateTokenKeys(dir)).toThrow(/token-keys\.json .*chmod 600/);
  });

  it('the master key file (a ConfigError naming KEYPLANE_DATA_DIR)', () => {
    loadOrCreateMasterKey(dir);
    const file = path.join(dir, 'master.key');
    fs.chmodSync(file, 0o640);
    expect(() => loadOrCreateMasterKey(dir)).toThrow(/KEYPLANE_DATA_DIR: .*master\.key .*chmod 600/);
  });

  it('never quotes a broken token key file', () => {
    const secret = crypto.randomBytes(32).toString('base64');
    const file = path.join(dir, 'token-keys.json');
    fs.writeFileSync(file, `{"keys":[{"kid":"k1","secret":"${secret}"}]`, { mode: 0o600 });
    expect(() => loadOrCreateTokenKeys(dir)).toThrow(/not a valid token key file: not valid JSON/);
    try {
      loadOrCreateTokenKeys(dir);
    } catch (err) {
      expect((err as Error).message).not.toContain(secret.slice(0, 12));
    }
  });
});
