/**
 * The cryptography of encrypted CPIX documents (DASH-IF CPIX 2.3 "Key Management", AWS SPEKE
 * content key encryption): a per-document AES-256 key and HMAC-SHA512 key, both wrapped with the
 * recipient's RSA key (RSA-OAEP, SHA-1, MGF1-SHA-1), content keys under AES-256-CBC with the IV
 * prepended. Only node:crypto; no XML here.
 */
import {
  X509Certificate,
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
export const MAC_KEY_BYTES = 64;
/** Smallest RSA modulus accepted for a delivery certificate (AWS SPEKE requires 2048-bit RSA). */
export const MIN_RSA_BITS = 2048;

const IV_BYTES = 16;
const AES_BLOCK = 16;

/** The recipient of an encrypted response, as read from its X.509 delivery certificate. */
export interface DeliveryCertificate {
  /** RSA public key that wraps the document and MAC keys. */
  publicKey: KeyObject;
  /** SHA-256 fingerprint of the DER certificate: 64 lowercase hex digits, no colons. */
  sha256: string;
  /** Subject distinguished name, for logs and error messages. */
  subject: string;
  /** End of the validity period. */
  notAfter: Date;
}

/** The two random keys of one encrypted document. */
export interface DocumentKeys {
  /** AES-256 key that encrypts every content key. */
  documentKey: Buffer;
  /** HMAC-SHA512 key that authenticates every encrypted value. */
  macKey: Buffer;
}

/** Normalises a SHA-256 fingerprint (any case, with or without colons or spaces) to lowercase hex. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[:\s]/g, '').toLowerCase();
}

function loadCertificate(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new BadRequestError(
      'The delivery certificate (cpix:DeliveryKey/ds:X509Data/ds:X509Certificate) is not a parsable X.509 DER certificate',
    );
  }
}

function requireRsaKey(publicKey: KeyObject): void {
  const type = publicKey.asymmetricKeyType;
  if (type !== 'rsa') {
    throw new BadRequestError(
      `The delivery certificate must carry an RSA public key (RSA-OAEP wraps the document key); it carries ${type ?? 'an unknown key type'}`,
    );
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new BadRequestError(
      `The delivery certificate's RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`,
    );
  }
}

function certificateDate(value: string, what: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new BadRequestError(`The delivery certificate has an unreadable ${what} date`);
  return date;
}

function requireValidAt(cert: X509Certificate, now: Date): Date {
  const notBefore = certificateDate(cert.validFrom, 'notBefore');
  const notAfter = certificateDate(cert.validTo, 'notAfter');
  if (now.getTime() < notBefore.getTime()) {
    throw new BadRequestError(
      `The delivery certificate is not valid yet: its validity starts ${notBefore.toISOString()}`,
    );
  }
  if (now.getTime() > notAfter.getTime()) {
    throw new BadRequestError(`The delivery certificate expired on ${notAfter.toISOString()}`);
  }
  return notAfter;
}

function requireAllowed(sha256: string, allowedSha256: string[] | undefined): void {
  if (allowedSha256 === undefined) return;
  if (!allowedSha256.map(normalizeFingerprint).includes(sha256)) {
    throw new BadRequestError(
      `The delivery certificate (SHA-256 fingerprint ${sha256}) is not on this key provider's list of allowed delivery certificates`,
      { deliveryCertSha256: sha256 },
    );
  }
}

/**
 * Reads and vets the recipient's delivery certificate: it must parse, carry an RSA key of at least
 * 2048 bits, be valid at `now` and, when an allow-list is given (an empty list allows nothing), be on it.
 */
export function parseDeliveryCertificate(der: Buffer, now: Date, allowedSha256?: string[]): DeliveryCertificate {
  const cert = loadCertificate(der);
  const publicKey = cert.publicKey;
  requireRsaKey(publicKey);
  const notAfter = requireValidAt(cert, now);
  const sha256 = normalizeFingerprint(cert.fingerprint256);
  requireAllowed(sha256, allowedSha256);
  return { publicKey, sha256, subject: cert.subject, notAfter };
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
