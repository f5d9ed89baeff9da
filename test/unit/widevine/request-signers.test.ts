import crypto from 'node:crypto';
import { aesSignature, WidevineSigners } from '../../../src/widevine/request-signers';

const AES = { name: 'a', tenant: 't', kind: 'aes' as const, key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const PAIR = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
const RSA = { name: 'r', tenant: 'u', kind: 'rsa' as const, publicKey: PAIR.publicKey };
const signers = new WidevineSigners([AES, RSA]);
const message = Buffer.from('{"content_id":"YQ=="}');

describe('AES signatures (Shaka Packager: AES-256-CBC of SHA-1, PKCS#5)', () => {
  it('are 32 bytes: the SHA-1 digest encrypted and padded to two blocks, decrypting back to the digest', () => {
    const sig = aesSignature(message, AES.key, AES.iv);
    expect(sig).toHaveLength(32);
    const d = crypto.createDecipheriv('aes-256-cbc', AES.key, AES.iv);
    expect(Buffer.concat([d.update(sig), d.final()])).toEqual(crypto.createHash('sha1').update(message).digest());
  });

  it('verify for the signer that made them, and for nobody else', () => {
    const sig = aesSignature(message, AES.key, AES.iv);
    expect(signers.verify(message, 'a', sig)).toEqual({ name: 'a', tenant: 't' });
    expect(signers.verify(Buffer.from(`${message.toString()} `), 'a', sig)).toBeUndefined();
    expect(signers.verify(message, 'b', sig)).toBeUndefined();
    expect(signers.verify(message, 'r', sig)).toBeUndefined();
    expect(signers.verify(message, 'a', undefined)).toBeUndefined();
    expect(signers.verify(message, undefined, sig)).toBeUndefined();
    expect(signers.verify(message, 'a', sig.subarray(0, 31))).toBeUndefined();
    expect(signers.verify(message, 'a', Buffer.alloc(0))).toBeUndefined();
  });
});

describe('RSA signatures (RSASSA-PSS, SHA-1, MGF1-SHA-1, 20-byte salt)', () => {
  const sign = (saltLength: number, hash = 'sha1') =>
    crypto.sign(hash, message, { key: PAIR.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength });

  it('verify with the signer’s public key', () => {
    expect(signers.verify(message, 'r', sign(20))).toEqual({ name: 'r', tenant: 'u' });
  });

  it('refuse another salt length, another hash, PKCS#1 v1.5 and garbage', () => {
    expect(signers.verify(message, 'r', sign(32))).toBeUndefined();
    expect(signers.verify(message, 'r', sign(20, 'sha256'))).toBeUndefined();
    expect(signers.verify(message, 'r', crypto.sign('sha1', message, PAIR.privateKey))).toBeUndefined();
    expect(signers.verify(message, 'r', crypto.randomBytes(128))).toBeUndefined();
    expect(signers.verify(message, 'r', undefined)).toBeUndefined();
  });
});
