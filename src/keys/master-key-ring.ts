import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors';
import { readSecretFile, SecretFileModeError } from '../util/secret-file';

/** Length in bytes of a master key's fingerprint as it appears in sealed values. */
export const FINGERPRINT_BYTES = 8;
const CURRENT_FILE = 'master.key';
const PREVIOUS_FILE = /^master\.([0-9a-f]{16})\.key$/;

/**
 * The non-secret id of a master key: the first 8 bytes of SHA-256 over a label and the key. Sealed
 * values carry it, backups name it, and operators compare it; it reveals nothing of a 256-bit key.
 */
export function masterKeyFingerprint(key: Buffer): string {
  return crypto
    .createHash('sha256')
    .update('keyplane master key id\0')
    .update(key)
    .digest()
    .subarray(0, FINGERPRINT_BYTES)
    .toString('hex');
}

/** One master key and its fingerprint. */
export interface MasterKey {
  fingerprint: string;
  key: Buffer;
}

/** The file of a previous master key kept during a rotation: `master.<fingerprint>.key`. */
export function previousKeyFile(dataDir: string, fingerprint: string): string {
  return path.join(dataDir, `master.${fingerprint}.key`);
}

/** Reads one master key file (mode 0600 enforced); ConfigError naming KEYPLANE_DATA_DIR when it is not one. */
export function readMasterKeyFile(file: string): MasterKey {
  let text: string;
  try {
    text = readSecretFile(file);
  } catch (err) {
    if (err instanceof SecretFileModeError) throw new ConfigError('KEYPLANE_DATA_DIR', err.message);
    throw err;
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new ConfigError('KEYPLANE_DATA_DIR', `${file} does not hold a base64 32-byte key`);
  return { fingerprint: masterKeyFingerprint(key), key };
}

/** The master keys of a data dir: `master.key` (seals) and the `master.<fp>.key` files a rotation keeps. */
export interface MasterKeys {
  current: MasterKey;
  previous: MasterKey[];
}

/** Reads the master keys of a data dir without creating any; ConfigError when `master.key` is missing. */
export function readMasterKeys(dataDir: string): MasterKeys {
  const file = path.join(dataDir, CURRENT_FILE);
  if (!fs.existsSync(file)) throw new ConfigError('KEYPLANE_DATA_DIR', `${file} does not exist`);
  const current = readMasterKeyFile(file);
  const previous: MasterKey[] = [];
  for (const name of fs.readdirSync(dataDir).sort()) {
    const match = PREVIOUS_FILE.exec(name);
    if (!match || match[1] === current.fingerprint) continue;
    const key = readMasterKeyFile(path.join(dataDir, name));
    if (key.fingerprint !== match[1]) {
      throw new ConfigError('KEYPLANE_DATA_DIR', `${name} holds the master key ${key.fingerprint}, not ${match[1]}`);
    }
    previous.push(key);
  }
  return { current, previous };
}

/** Where a local cipher gets its keys: the one that seals now, and all that may open. */
export interface MasterKeySource {
  current(): MasterKey;
  all(): MasterKey[];
  find(fingerprint: string): MasterKey | undefined;
}

/** A fixed set of master keys (a restore checks a backup against keys not yet in a data dir). */
export function fixedMasterKeys(keys: MasterKeys): MasterKeySource {
  const all = [keys.current, ...keys.previous];
  return { current: () => keys.current, all: () => all, find: (fp) => all.find((k) => k.fingerprint === fp) };
}

/**
 * The master keys a running cipher uses, re-read when `master.key` is replaced (a rotation by
 * `keyplane rotate-master-key` while a server runs), so new keys are sealed by the new key at once.
 * A stat per synchronous run that seals; the files are read only when the current one changed.
 */
export class MasterKeyRing implements MasterKeySource {
  private keys: MasterKeys;
  private stamp: string;
  private checkedThisRun = false;

  constructor(
    private readonly dataDir: string,
    initial?: MasterKeys,
  ) {
    this.stamp = this.fileStamp();
    this.keys = initial ?? readMasterKeys(dataDir);
  }

  /**
   * The key that seals, after re-reading the files if `master.key` changed. The file is checked once per
   * synchronous run: the 8 seals of one SPEKE request took 8 stats, all in the same instant.
   */
  current(): MasterKey {
    if (!this.checkedThisRun) {
      this.checkedThisRun = true;
      queueMicrotask(() => (this.checkedThisRun = false));
      this.refresh();
    }
    return this.keys.current;
  }

  /** Every key (current first) that may open a value. */
  all(): MasterKey[] {
    return [this.keys.current, ...this.keys.previous];
  }

  /** The key with this fingerprint, re-reading the files once when it is unknown. */
  find(fingerprint: string): MasterKey | undefined {
    const hit = this.all().find((k) => k.fingerprint === fingerprint);
    if (hit) return hit;
    this.refresh(true);
    return this.all().find((k) => k.fingerprint === fingerprint);
  }

  private refresh(force = false): void {
    const stamp = this.fileStamp();
    if (!force && stamp === this.stamp) return;
    try {
      this.keys = readMasterKeys(this.dataDir);
      // Only now: a read that failed (a half-done rotation by hand, a key file of the wrong mode, too many
      // open files) is tried again on the next run, never taken as seen while the old key goes on sealing.
      this.stamp = stamp;
    } catch {
      // Keep the keys already loaded meanwhile.
    }
  }

  private fileStamp(): string {
    try {
      const s = fs.statSync(path.join(this.dataDir, CURRENT_FILE));
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  }
}
