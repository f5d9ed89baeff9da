import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeConfig, loadConfig } from '../../../src/config';
import { loadWidevineConfig } from '../../../src/config/widevine';

const KEY = 'ab'.repeat(32);
const IV = 'cd'.repeat(16);
const SECRET = 'ef'.repeat(32);

describe('KEYPLANE_WIDEVINE_*', () => {
  let dir: string;
  let pem: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-wv-config-'));
    pem = path.join(dir, 'pub.pem');
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    fs.writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is off without signers', () => {
    expect(loadWidevineConfig({})).toBeUndefined();
    expect(describeConfig(loadConfig({})).widevine).toBe('off');
  });

  it('reads AES and RSA signers with their tenants (default `default`) and the KID secret', () => {
    const c = loadWidevineConfig({
      KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}, b:${KEY}:${IV}:studio-b`,
      KEYPLANE_WIDEVINE_RSA_SIGNERS: `r:${pem}:studio-r`,
      KEYPLANE_WIDEVINE_KID_SECRET: SECRET,
    });
    expect(c?.signers.map((s) => [s.name, s.kind, s.tenant])).toEqual([
      ['a', 'aes', 'default'],
      ['b', 'aes', 'studio-b'],
      ['r', 'rsa', 'studio-r'],
    ]);
    expect(c?.kidSecret).toEqual(Buffer.from(SECRET, 'hex'));
  });

  it('refuses an RSA signer key under 2048 bits, naming the signer and its size', () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weak = path.join(dir, 'weak.pem');
    fs.writeFileSync(weak, publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() =>
      loadWidevineConfig({ KEYPLANE_WIDEVINE_RSA_SIGNERS: `weak:${weak}`, KEYPLANE_WIDEVINE_KID_SECRET: SECRET }),
    ).toThrow('KEYPLANE_WIDEVINE_RSA_SIGNERS: the key of signer weak has 1024 bits; at least 2048 are needed');
  });

  it('reads RSA public keys in DER too (SPKI or PKCS#1)', () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = path.join(dir, 'pub.spki.der');
    const pkcs1 = path.join(dir, 'pub.pkcs1.der');
    fs.writeFileSync(spki, publicKey.export({ type: 'spki', format: 'der' }));
    fs.writeFileSync(pkcs1, publicKey.export({ type: 'pkcs1', format: 'der' }));
    const c = loadWidevineConfig({
      KEYPLANE_WIDEVINE_RSA_SIGNERS: `s:${spki},p:${pkcs1}`,
      KEYPLANE_WIDEVINE_KID_SECRET: SECRET,
    });
    expect(c?.signers.map((x) => x.kind === 'rsa' && x.publicKey.asymmetricKeyType)).toEqual(['rsa', 'rsa']);
  });

  it('describes signers by name, kind and tenant, never their keys', () => {
    const summary = JSON.stringify(
      describeConfig(
        loadConfig({ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}:t1`, KEYPLANE_WIDEVINE_KID_SECRET: SECRET }),
      ),
    );
    expect(summary).toContain('a (aes, tenant t1)');
    expect(summary).not.toContain(KEY);
    expect(summary).not.toContain(IV);
    expect(summary).not.toContain(SECRET);
  });

  it.each([
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}` }, /KEYPLANE_WIDEVINE_KID_SECRET: must be at least 64 hex/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}`, KEYPLANE_WIDEVINE_KID_SECRET: 'ab' }, /KID_SECRET/],
    [{ KEYPLANE_WIDEVINE_KID_SECRET: SECRET }, /KEYPLANE_WIDEVINE_KID_SECRET: is set but no signer is/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}` }, /KEYPLANE_WIDEVINE_SIGNERS: each entry is name:aesKeyHex:aesIvHex/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:abcd:${IV}` }, /the AES key of signer a must be 64 hex digits/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:abcd` }, /the AES IV of signer a must be 32 hex digits/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}:Bad Tenant` }, /tenant "Bad Tenant" of signer a/],
    [{ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV},a:${KEY}:${IV}` }, /signer a is configured twice/],
    [
      { KEYPLANE_WIDEVINE_RSA_SIGNERS: 'r:/nonexistent.pem' },
      /KEYPLANE_WIDEVINE_RSA_SIGNERS: cannot read an RSA public key/,
    ],
  ])('%j → a ConfigError naming the variable', (env, message) => {
    expect(() => loadConfig({ ...env })).toThrow(message);
  });

  it('a configuration error never shows the AES key', () => {
    try {
      loadConfig({ KEYPLANE_WIDEVINE_SIGNERS: `a:${KEY}:${IV}` });
    } catch (err) {
      expect((err as Error).message).not.toContain(KEY);
    }
    expect.assertions(1);
  });
});
