import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyUnsealError } from '../../../src/keys/envelope-cipher-errors';
import { loadOrCreateMasterKey, LocalEnvelopeCipher } from '../../../src/keys/local-cipher';

describe('local master key and cipher', () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-mk-'));

  it('creates the key file with mode 0600 and reuses it', () => {
    const d = dir();
    const k1 = loadOrCreateMasterKey(d);
    expect(fs.statSync(path.join(d, 'master.key')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateMasterKey(d)).toEqual(k1);
  });

  it('refuses a key file readable by others', () => {
    const d = dir();
    loadOrCreateMasterKey(d);
    fs.chmodSync(path.join(d, 'master.key'), 0o644);
    expect(() => loadOrCreateMasterKey(d)).toThrow(
      /KEYPLANE_DATA_DIR: .*master.key is accessible by group\/others \(mode 644\)/,
    );
  });

  it('binds sealed values to (resource ID, KID) and detects tampering', async () => {
    const cipher = new LocalEnvelopeCipher(loadOrCreateMasterKey(dir()));
    const plain = Buffer.alloc(32, 7);
    const sealed = await cipher.seal(plain, { resourceId: 'r1', kid: 'k1' });
    expect(await cipher.open(sealed, { resourceId: 'r1', kid: 'k1' })).toEqual(plain);
    await expect(cipher.open(sealed, { resourceId: 'r2', kid: 'k1' })).rejects.toThrow(KeyUnsealError);
    await expect(cipher.open(sealed, { resourceId: 'r1', kid: 'k2' })).rejects.toThrow(KeyUnsealError);
    const tampered = Buffer.from(sealed);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
    await expect(cipher.open(tampered, { resourceId: 'r1', kid: 'k1' })).rejects.toThrow(KeyUnsealError);
    const other = new LocalEnvelopeCipher(loadOrCreateMasterKey(dir()));
    await expect(other.open(sealed, { resourceId: 'r1', kid: 'k1' })).rejects.toThrow(KeyUnsealError);
  });
});
