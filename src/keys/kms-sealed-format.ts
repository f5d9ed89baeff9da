import type { KeyContext } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';

/**
 * Sealed format (all integers big-endian):
 *
 *   version(1) = 1 ‖ edkLength(2) ‖ encryptedDataKey(edkLength) ‖ nonce(12) ‖ tag(16) ‖ ciphertext
 *
 * `encryptedDataKey` is the KMS CiphertextBlob of the AES-256 data key, so a sealed value
 * carries everything but the KMS key itself. GCM's AAD is `associatedData(context)`.
 */
const FORMAT_VERSION = 1;
const EDK_LENGTH_BYTES = 2;
const TAG_BYTES = 16;
/** GCM nonce length of KMS-sealed values. */
export const NONCE_BYTES = 12;
/** Length of a plaintext AES-256 data key. */
export const DATA_KEY_BYTES = 32;
/** Longest encrypted data key the 2-byte length field can carry. */
export const MAX_ENCRYPTED_KEY_BYTES = 0xffff;

/** The parts of a KMS-sealed value. */
interface KmsSealed {
  encryptedKey: Buffer;
  nonce: Buffer;
  tag: Buffer;
  body: Buffer;
}

/** Lays out a KMS-sealed value. */
export function encodeSealed(parts: KmsSealed): Buffer {
  const header = Buffer.alloc(1 + EDK_LENGTH_BYTES);
  header.writeUInt8(FORMAT_VERSION, 0);
  header.writeUInt16BE(parts.encryptedKey.length, 1);
  return Buffer.concat([header, parts.encryptedKey, parts.nonce, parts.tag, parts.body]);
}

/** Splits a KMS-sealed value; KeyUnsealError (naming the context) when it is not one or is truncated. */
export function parseSealed(sealed: Buffer, context: KeyContext): KmsSealed {
  const headerBytes = 1 + EDK_LENGTH_BYTES;
  if (sealed.length < headerBytes || sealed[0] !== FORMAT_VERSION) {
    throw new KeyUnsealError(context, 'it is not a KMS-sealed value');
  }
  const edkLength = sealed.readUInt16BE(1);
  const nonceAt = headerBytes + edkLength;
  const bodyAt = nonceAt + NONCE_BYTES + TAG_BYTES;
  if (edkLength === 0 || sealed.length < bodyAt) throw new KeyUnsealError(context, 'it is truncated');
  return {
    encryptedKey: sealed.subarray(headerBytes, nonceAt),
    nonce: sealed.subarray(nonceAt, nonceAt + NONCE_BYTES),
    tag: sealed.subarray(nonceAt + NONCE_BYTES, bodyAt),
    body: sealed.subarray(bodyAt),
  };
}
