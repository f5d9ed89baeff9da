import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors';
import type { EnvelopeCipher, KeyContext } from './envelope-cipher';
import { associatedData } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';
import { pooledRandomBytes } from '../util/random-pool';
import { createSecretFileAtomically, readSecretFile, SecretFileModeError } from '../util/secret-file';
import {
  FINGERPRINT_BYTES,
  fixedMasterKeys,
  masterKeyFingerprint,
  MasterKeyRing,
  type MasterKeySource,
} from './master-key-ring';

/** Distinct from the KMS format (0x01) so a value shows which cipher sealed it; sealed before key ids. */
const LEGACY_FORMAT = 2;
/** The current local format: the sealing master key's fingerprint follows the version byte. */
const FORMAT_VERSION = 3;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const LEGACY_HEADER = 1;
const HEADER = 1 + FINGERPRINT_BYTES;

/**
 * AES-256-GCM under a 32-byte master key kept in a file: the no-cloud default.
 * Format 3: version(1) = 3 ‖ master key fingerprint(8) ‖ nonce(12) ‖ tag(16) ‖ ciphertext, with
 * (resourceId, kid) as AAD. Format 2 (before rotation existed) has no fingerprint and is still read:
 * every key of the ring is tried. Given a MasterKeyRing, a rotated `master.key` seals at once.
 */
export class LocalEnvelopeCipher implements EnvelopeCipher {
  readonly name = 'local';
  private readonly ring: MasterKeySource;

  constructor(keys: Buffer | MasterKeySource) {
    if (Buffer.isBuffer(keys)) {
      if (keys.length !== 32) throw new Error('Local master key must be 32 bytes');
      this.ring = fixedMasterKeys({ current: { fingerprint: masterKeyFingerprint(keys), key: keys }, previous: [] });
    } else {
      this.ring = keys;
    }
  }

  async seal(plaintext: Buffer, context: KeyContext): Promise<Buffer> {
    const { key, fingerprint } = this.ring.current();
    const nonce = pooledRandomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(associatedData(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const header = Buffer.concat([Buffer.of(FORMAT_VERSION), Buffer.from(fingerprint, 'hex')]);
    return Buffer.concat([header, nonce, cipher.getAuthTag(), body]);
  }

  async open(sealed: Buffer, context: KeyContext): Promise<Buffer> {
    if (sealed[0] === LEGACY_FORMAT && sealed.length >= LEGACY_HEADER + NONCE_BYTES + TAG_BYTES) {
      for (const { key } of this.ring.all()) {
        const plain = tryOpen(key, sealed.subarray(LEGACY_HEADER), context);
        if (plain) return plain;
      }
      throw new KeyUnsealError(context);
    }
    const fingerprint = this.sealedBy(sealed);
    if (fingerprint === undefined || sealed.length < HEADER + NONCE_BYTES + TAG_BYTES) {
      throw new KeyUnsealError(context);
    }
    const master = this.ring.find(fingerprint);
    if (!master) throw new KeyUnsealError(context, `its master key ${fingerprint} is not in the data dir`);
    const plain = tryOpen(master.key, sealed.subarray(HEADER), context);
    if (!plain) throw new KeyUnsealError(context);
    return plain;
  }

  /** The fingerprint of the master key that sealed a format-3 value; undefined for format 2 or foreign values. */
  sealedBy(sealed: Buffer): string | undefined {
    if (sealed[0] !== FORMAT_VERSION || sealed.length < HEADER) return undefined;
    return sealed.subarray(1, HEADER).toString('hex');
  }

  /** The fingerprint of the master key that seals now. */
  async sealingKeyId(): Promise<string> {
    return this.ring.current().fingerprint;
  }
}

/** Opens nonce ‖ tag ‖ ciphertext under `key`, or undefined when it does not authenticate. */
function tryOpen(key: Buffer, rest: Buffer, context: KeyContext): Buffer | undefined {
  const nonce = rest.subarray(0, NONCE_BYTES);
  const tag = rest.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(associatedData(context));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(rest.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * What the store beside a data dir's master key holds: undefined when it holds no sealed key, else the
 * fingerprint of the master key one of them needs ('' when it cannot tell).
 */
export type StoredSealer = () => string | undefined;

/** A master key that is gone while the store still holds keys sealed with one: a new key would orphan them. */
export class MissingMasterKeyError extends ConfigError {
  constructor(file: string, sealer: string) {
    super(
      'KEYPLANE_DATA_DIR',
      `${file} is missing, but the store holds keys sealed with a master key` +
        (sealer === '' ? '' : ` (fingerprint ${sealer})`) +
        '; put that master.key back (from your offline key store: backups hold no master key). Keyplane ' +
        'does not make a new one, ' +
        'which would leave every stored key unreadable',
    );
  }
}

/**
 * Loads the master key file from the data dir, creating it (mode 0600, durably) on first start: only when
 * `storedSealer` says the store holds no sealed key. Refuses a file that group or others can read: the
 * key protects every stored key.
 */
export function loadOrCreateMasterKey(dataDir: string, storedSealer?: StoredSealer): Buffer {
  const file = path.join(dataDir, 'master.key');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    const sealer = storedSealer?.();
    if (sealer !== undefined) throw new MissingMasterKeyError(file, sealer);
    createSecretFileAtomically(file, crypto.randomBytes(32).toString('base64') + '\n');
  }
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

/** The data dir's cipher for a server: creates `master.key` on first start and follows its rotations. */
export function localCipherFor(dataDir: string, storedSealer?: StoredSealer): LocalEnvelopeCipher {
  loadOrCreateMasterKey(dataDir, storedSealer);
  return new LocalEnvelopeCipher(new MasterKeyRing(dataDir));
}
