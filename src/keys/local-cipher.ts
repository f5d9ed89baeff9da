import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors';
import type { EnvelopeCipher, KeyContext } from './envelope-cipher';
import { associatedData } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';
import { createSecretFileAtomically, readSecretFile, SecretFileModeError } from '../util/secret-file';

/** Distinct from the KMS format (0x01) so a value shows which cipher sealed it. */
const FORMAT_VERSION = 2;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM under a 32-byte master key kept in a file: the no-cloud default.
 * Format: version(1) ‖ nonce(12) ‖ tag(16) ‖ ciphertext, with (resourceId, kid) as AAD.
 */
export class LocalEnvelopeCipher implements EnvelopeCipher {
  readonly name = 'local';

  constructor(private readonly masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('Local master key must be 32 bytes');
  }

  async seal(plaintext: Buffer, context: KeyContext): Promise<Buffer> {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.masterKey, nonce);
    cipher.setAAD(associatedData(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_VERSION), nonce, cipher.getAuthTag(), body]);
  }

  async open(sealed: Buffer, context: KeyContext): Promise<Buffer> {
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) throw new KeyUnsealError(context);
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.masterKey, nonce);
    decipher.setAAD(associatedData(context));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new KeyUnsealError(context);
    }
  }
}

/**
 * Loads the master key file from the data dir, creating it (mode 0600) on first start.
 * Refuses a file that group or others can read: the key protects every stored key.
 */
export function loadOrCreateMasterKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'master.key');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) createSecretFileAtomically(file, crypto.randomBytes(32).toString('base64') + '\n');
  let text: string;
  try {
    text = readSecretFile(file);
  } catch (err) {
    if (err instanceof SecretFileModeError) throw new ConfigError('KEYPLANE_DATA_DIR', err.message);
    throw err;
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new ConfigError('KEYPLANE_DATA_DIR', `${file} does not hold a base64 32-byte key`);
  return key;
}
