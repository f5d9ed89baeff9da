import type { KeyContext } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';

/**
 * Sealed format (all integers big-endian):
 *
 *   version(1) = 1 ‖ edkLength(2) ‖ encryptedDataKey(edkLength) ‖ nonce(12) ‖ tag(16) ‖ ciphertext
 *
 * `encryptedDataKey` is the KMS CiphertextBlob of the AES-256 data key, so a sealed value
 * carries everything but the KMS key itself. GCM's AAD is `associatedData(context)`.
 *
 * Format 4 (since master key rotation) names the KMS key, so a change of KMS key can be re-wrapped and
 * counted: version(1) = 4 ‖ arnLength(1) ‖ keyArn(arnLength, UTF-8) ‖ then as format 1 from edkLength.
 */
const FORMAT_VERSION = 1;
const KEYED_FORMAT_VERSION = 4;
/** Longest KMS key ARN format 4 can carry. */
export const MAX_KEY_ARN_BYTES = 0xff;
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
  /** The ARN of the KMS key that encrypted the data key (format 4); absent in format 1. */
  keyArn?: string;
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
  const rest = [header.subarray(1), parts.encryptedKey, parts.nonce, parts.tag, parts.body];
  const arn = parts.keyArn === undefined ? undefined : Buffer.from(parts.keyArn, 'utf8');
  if (arn === undefined || arn.length === 0 || arn.length > MAX_KEY_ARN_BYTES)
    return Buffer.concat([header, ...rest.slice(1)]);
  return Buffer.concat([Buffer.of(KEYED_FORMAT_VERSION, arn.length), arn, ...rest]);
}

/** The KMS key ARN a format-4 value names; undefined for format 1 and anything else. */
export function sealedKeyArn(sealed: Buffer): string | undefined {
  if (sealed.length < 2 || sealed[0] !== KEYED_FORMAT_VERSION) return undefined;
  const length = sealed.readUInt8(1);
  if (sealed.length < 2 + length) return undefined;
  return sealed.subarray(2, 2 + length).toString('utf8');
}

/** Splits a KMS-sealed value; KeyUnsealError (naming the context) when it is not one or is truncated. */
export function parseSealed(sealed: Buffer, context: KeyContext): KmsSealed {
  const keyArn = sealedKeyArn(sealed);
  const start = keyArn === undefined ? 0 : 1 + sealed.readUInt8(1);
  const headerBytes = start + 1 + EDK_LENGTH_BYTES;
  if (sealed.length < headerBytes || (keyArn === undefined && sealed[0] !== FORMAT_VERSION)) {
    throw new KeyUnsealError(context, 'it is not a KMS-sealed value');
  }
  const edkLength = sealed.readUInt16BE(start + 1);
  const nonceAt = headerBytes + edkLength;
  const bodyAt = nonceAt + NONCE_BYTES + TAG_BYTES;
  if (edkLength === 0 || sealed.length < bodyAt) throw new KeyUnsealError(context, 'it is truncated');
  return {
    keyArn,
    encryptedKey: sealed.subarray(headerBytes, nonceAt),
    nonce: sealed.subarray(nonceAt, nonceAt + NONCE_BYTES),
    tag: sealed.subarray(nonceAt + NONCE_BYTES, bodyAt),
    body: sealed.subarray(bodyAt),
  };
}
