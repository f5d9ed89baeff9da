/**
 * The cryptography of encrypted CPIX documents (DASH-IF CPIX 2.3 "Key Management", AWS SPEKE
 * content key encryption): a per-document AES-256 key and HMAC-SHA512 key, both wrapped with the
 * recipient's RSA key (RSA-OAEP, SHA-1, MGF1-SHA-1), content keys under AES-256-CBC with the IV
 * prepended. Only node:crypto; no XML here. (The recipient's certificate is read and vetted in
 * `delivery-certificate.ts`.)
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { BadRequestError } from '../errors';

/** Algorithm URIs written into (and required from) encrypted CPIX documents. */
export const ALGORITHMS = {
  /** Document key algorithm and content key encryption method. */
  aes256Cbc: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  /** Wrapping of the document key and the MAC key with the delivery certificate. */
  rsaOaepMgf1p: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  /** MACMethod algorithm; the ValueMAC of every encrypted value. */
  hmacSha512: 'http://www.w3.org/2001/04/xmldsig-more#hmac-sha512',
} as const;

/** Document key size: AES-256. */
export const DOCUMENT_KEY_BYTES = 32;
/** MAC key size, as the AWS SPEKE reference server draws it. */
const MAC_KEY_BYTES = 64;

const IV_BYTES = 16;
const AES_BLOCK = 16;

/** The two random keys of one encrypted document. */
interface DocumentKeys {
  /** AES-256 key that encrypts every content key. */
  documentKey: Buffer;
  /** HMAC-SHA512 key that authenticates every encrypted value. */
  macKey: Buffer;
}

/** Draws a fresh 32-byte document key and 64-byte MAC key from the CSPRNG, one pair per response. */
export function createDocumentKeys(): DocumentKeys {
  return { documentKey: randomBytes(DOCUMENT_KEY_BYTES), macKey: randomBytes(MAC_KEY_BYTES) };
}

const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' } as const;

/** Wraps a key for the recipient: RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label (xmlenc#rsa-oaep-mgf1p). */
export function wrapKey(publicKey: KeyObject, key: Buffer): Buffer {
  return publicEncrypt({ key: publicKey, ...OAEP }, key);
}

/** Unwraps an RSA-OAEP-wrapped key with the recipient's private key (CLI and tests). */
export function unwrapKey(privateKey: KeyObject, wrapped: Buffer): Buffer {
  try {
    return privateDecrypt({ key: privateKey, ...OAEP }, wrapped);
  } catch {
    throw new BadRequestError(
      'RSA-OAEP unwrapping failed: the value was not wrapped for this private key, or is corrupt',
    );
  }
}

function requireDocumentKey(documentKey: Buffer): void {
  if (documentKey.length !== DOCUMENT_KEY_BYTES) {
    throw new RangeError(`The document key must be ${DOCUMENT_KEY_BYTES} bytes, got ${documentKey.length}`);
  }
}

/** Encrypts a value under the document key: AES-256-CBC, PKCS#7, random IV prepended (16-byte key → 48 bytes). */
export function encryptValue(documentKey: Buffer, plaintext: Buffer): Buffer {
  requireDocumentKey(documentKey);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-cbc', documentKey, iv);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final()]);
}

/** Reverses `encryptValue` (CLI and tests); verify the ValueMAC first. */
export function decryptValue(documentKey: Buffer, data: Buffer): Buffer {
  requireDocumentKey(documentKey);
  if (data.length < IV_BYTES + AES_BLOCK || data.length % AES_BLOCK !== 0) {
    throw new BadRequestError('An AES-256-CBC encrypted value must be a 16-byte IV followed by whole 16-byte blocks');
  }
  const decipher = createDecipheriv('aes-256-cbc', documentKey, data.subarray(0, IV_BYTES));
  try {
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES)), decipher.final()]);
  } catch {
    throw new BadRequestError('AES-256-CBC decryption failed: wrong document key or corrupt value');
  }
}

/** The ValueMAC of an encrypted value: HMAC-SHA512 over exactly the bytes of its CipherValue (64 bytes). */
export function valueMac(macKey: Buffer, ivAndCiphertext: Buffer): Buffer {
  return createHmac('sha512', macKey).update(ivAndCiphertext).digest();
}

/** Checks a ValueMAC in constant time, so a receiver can refuse tampered values before decrypting. */
export function verifyValueMac(macKey: Buffer, data: Buffer, mac: Buffer): boolean {
  const expected = valueMac(macKey, data);
  return mac.length === expected.length && timingSafeEqual(mac, expected);
}
