import {
  X509Certificate,
  constants,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  privateDecrypt,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ALGORITHMS,
  createDocumentKeys,
  decryptValue,
  encryptValue,
  unwrapKey,
  valueMac,
  verifyValueMac,
  wrapKey,
} from '../../../src/cpix/document-crypto';
import { BadRequestError } from '../../../src/errors';

const CERTS = join(__dirname, '../../fixtures/certs');
const deliveryDer = Buffer.from(readFileSync(join(CERTS, 'delivery.der.b64'), 'utf8').trim(), 'base64');
const privateKey = createPrivateKey(readFileSync(join(CERTS, 'delivery-key.pem')));

function rejection(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('expected a BadRequestError, nothing was thrown');
}

function flipBit(buf: Buffer, byte: number): Buffer {
  const copy = Buffer.from(buf);
  copy[byte] = (copy[byte] as number) ^ 0x01;
  return copy;
}

describe('ALGORITHMS', () => {
  it('uses the DASH-IF CPIX / XML Encryption URIs', () => {
    expect(ALGORITHMS).toEqual({
      aes256Cbc: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
      rsaOaepMgf1p: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      hmacSha512: 'http://www.w3.org/2001/04/xmldsig-more#hmac-sha512',
    });
  });
});

describe('createDocumentKeys', () => {
  it('draws a 32-byte document key and a 64-byte MAC key, fresh each time', () => {
    const a = createDocumentKeys();
    const b = createDocumentKeys();
    expect(a.documentKey).toHaveLength(32);
    expect(a.macKey).toHaveLength(64);
    expect(a.documentKey.equals(b.documentKey)).toBe(false);
    expect(a.macKey.equals(b.macKey)).toBe(false);
  });
});

describe('wrapKey / unwrapKey', () => {
  const { publicKey } = new X509Certificate(deliveryDer);

  it('is RSA-OAEP with SHA-1 / MGF1-SHA-1: node:crypto decrypts it directly', () => {
    const key = createDocumentKeys().documentKey;
    const wrapped = wrapKey(publicKey, key);
    expect(wrapped).toHaveLength(256);
    const direct = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      wrapped,
    );
    expect(direct.equals(key)).toBe(true);
    expect(unwrapKey(privateKey, wrapped).equals(key)).toBe(true);
  });

  it('is not OAEP with SHA-256', () => {
    const wrapped = wrapKey(publicKey, Buffer.alloc(32, 7));
    expect(() =>
      privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped),
    ).toThrow();
  });

  it('uses random padding: the same key wraps differently each time', () => {
    const key = Buffer.alloc(64, 1);
    expect(wrapKey(publicKey, key).equals(wrapKey(publicKey, key))).toBe(false);
  });

  it('reports a corrupt wrapped key without revealing anything', () => {
    const wrapped = flipBit(wrapKey(publicKey, Buffer.alloc(32, 9)), 100);
    const err = rejection(() => unwrapKey(privateKey, wrapped));
    expect(err.message).toMatch(/^RSA-OAEP unwrapping failed/);
  });
});

describe('encryptValue / decryptValue', () => {
  const documentKey = createDocumentKeys().documentKey;
  const contentKey = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

  it('turns a 16-byte key into IV (16) + two AES blocks (32) = 48 bytes, decryptable by node:crypto directly', () => {
    const out = encryptValue(documentKey, contentKey);
    expect(out).toHaveLength(48);
    const decipher = createDecipheriv('aes-256-cbc', documentKey, out.subarray(0, 16));
    const plain = Buffer.concat([decipher.update(out.subarray(16)), decipher.final()]);
    expect(plain.equals(contentKey)).toBe(true);
    expect(decryptValue(documentKey, out).equals(contentKey)).toBe(true);
  });

  it('pads with PKCS#7: a full block of padding after a block-sized value', () => {
    const out = encryptValue(documentKey, contentKey);
    const decipher = createDecipheriv('aes-256-cbc', documentKey, out.subarray(0, 16));
    decipher.setAutoPadding(false);
    const raw = Buffer.concat([decipher.update(out.subarray(16)), decipher.final()]);
    expect(raw.subarray(16).equals(Buffer.alloc(16, 16))).toBe(true);
    expect(encryptValue(documentKey, Buffer.alloc(32))).toHaveLength(16 + 48);
  });

  it('uses a random IV each time', () => {
    const a = encryptValue(documentKey, contentKey);
    const b = encryptValue(documentKey, contentKey);
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false);
    expect(a.subarray(16).equals(b.subarray(16))).toBe(false);
  });

  it('insists on a 32-byte document key', () => {
    expect(() => encryptValue(Buffer.alloc(16), contentKey)).toThrow(RangeError);
  });

  it('rejects data that is not IV + whole blocks', () => {
    expect(rejection(() => decryptValue(documentKey, Buffer.alloc(40))).message).toMatch(
      /16-byte IV followed by whole/,
    );
    expect(rejection(() => decryptValue(documentKey, Buffer.alloc(16))).message).toMatch(/16-byte IV/);
  });
});

describe('valueMac / verifyValueMac', () => {
  const macKey = createDocumentKeys().macKey;
  const data = encryptValue(createDocumentKeys().documentKey, Buffer.alloc(16, 3));

  it('is HMAC-SHA512 over the bytes given (64 bytes)', () => {
    const mac = valueMac(macKey, data);
    expect(mac).toHaveLength(64);
    expect(mac.equals(createHmac('sha512', macKey).update(data).digest())).toBe(true);
    expect(verifyValueMac(macKey, data, mac)).toBe(true);
  });

  it('detects a flipped bit in the MAC, in the data, a truncated MAC or another MAC key', () => {
    const mac = valueMac(macKey, data);
    expect(verifyValueMac(macKey, data, flipBit(mac, 63))).toBe(false);
    expect(verifyValueMac(macKey, data, flipBit(mac, 0))).toBe(false);
    expect(verifyValueMac(macKey, flipBit(data, 20), mac)).toBe(false);
    expect(verifyValueMac(macKey, data, mac.subarray(0, 32))).toBe(false);
    expect(verifyValueMac(createDocumentKeys().macKey, data, mac)).toBe(false);
  });
});
