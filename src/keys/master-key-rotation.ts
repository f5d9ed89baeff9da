import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { masterKeyFingerprint, previousKeyFile, readMasterKeyFile, readMasterKeys } from './master-key-ring';

/** Writes `content` to `file` durably and atomically (0600 temp file, fsync, rename, fsync of the dir). */
export function writeSecretFileDurably(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/** fsyncs a directory so a rename or unlink in it survives a power loss. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** What a rotation of the key files did. */
export interface MasterKeySwap {
  previous: string;
  current: string;
}

/**
 * Step 1 of a rotation: keeps the current master key as `master.<fp>.key` (written and synced first),
 * then replaces `master.key` by a new random key. A crash at any point leaves every key that sealed a
 * value on disk: before the rename the old key is in both files, after it in the kept one.
 */
export function swapInNewMasterKey(dataDir: string): MasterKeySwap {
  const old = readMasterKeys(dataDir).current;
  const kept = previousKeyFile(dataDir, old.fingerprint);
  if (!fs.existsSync(kept)) writeSecretFileDurably(kept, `${old.key.toString('base64')}\n`);
  if (readMasterKeyFile(kept).fingerprint !== old.fingerprint) throw new Error(`${kept} does not hold the old key`);
  const fresh = crypto.randomBytes(32);
  writeSecretFileDurably(path.join(dataDir, 'master.key'), `${fresh.toString('base64')}\n`);
  return { previous: old.fingerprint, current: masterKeyFingerprint(fresh) };
}

/** Last step of a rotation: deletes a kept master key. Only call it once no stored value needs it. */
export function deletePreviousMasterKey(dataDir: string, fingerprint: string): void {
  fs.unlinkSync(previousKeyFile(dataDir, fingerprint));
  syncDir(dataDir);
}
