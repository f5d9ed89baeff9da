import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { masterKeyFingerprint, previousKeyFile, readMasterKeyFile, readMasterKeys } from './master-key-ring';
import { syncDirectory, writeSyncedTemp } from '../util/secret-file';

/** Writes `content` to `file` durably and atomically (0600 temp file, fsync, rename, fsync of the dir). */
export function writeSecretFileDurably(file: string, content: string): void {
  const tmp = writeSyncedTemp(file, content);
  fs.renameSync(tmp, file);
  syncDirectory(path.dirname(file));
}

/** What a rotation of the key files did. */
export interface MasterKeySwap {
  previous: string;
  current: string;
}

/**
 * Step 1 of a rotation: keeps the current master key as `master.<fp>.key` (written and synced first),
 * writes the new random key under its own `master.<fp>.key` too, then replaces `master.key` by it. A
 * crash at any point leaves every key that sealed a value on disk: before the rename the old key is in
 * both files, after it in the kept one; and no key becomes current before it is kept under its own name,
 * so even two rotations racing each other cannot replace a key that sealed something.
 */
export function swapInNewMasterKey(dataDir: string): MasterKeySwap {
  const old = readMasterKeys(dataDir).current;
  const kept = previousKeyFile(dataDir, old.fingerprint);
  if (!fs.existsSync(kept)) writeSecretFileDurably(kept, `${old.key.toString('base64')}\n`);
  if (readMasterKeyFile(kept).fingerprint !== old.fingerprint) throw new Error(`${kept} does not hold the old key`);
  const fresh = crypto.randomBytes(32);
  const text = `${fresh.toString('base64')}\n`;
  writeSecretFileDurably(previousKeyFile(dataDir, masterKeyFingerprint(fresh)), text);
  writeSecretFileDurably(path.join(dataDir, 'master.key'), text);
  return { previous: old.fingerprint, current: masterKeyFingerprint(fresh) };
}

/** Last step of a rotation: deletes a kept master key. Only call it once no stored value needs it. */
export function deletePreviousMasterKey(dataDir: string, fingerprint: string): void {
  fs.unlinkSync(previousKeyFile(dataDir, fingerprint));
  syncDirectory(dataDir);
}

/** Another `rotate-master-key` holds the data dir's rotation lock. */
export class RotationLockedError extends Error {
  constructor(file: string, pid: number) {
    super(`another rotation (pid ${pid}) is running on this data dir (${file}); wait for it to finish`);
    this.name = 'RotationLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data dir's rotation lock (`rotate.lock`, holding the pid) so two rotations never run at
 * once; a lock left by a killed rotation (its pid gone) is taken over, so a re-run resumes. Returns the
 * release function.
 */
export function lockRotation(dataDir: string): () => void {
  const file = path.join(dataDir, 'rotate.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new RotationLockedError(file, pid);
      fs.rmSync(file, { force: true }); // stale: its rotation was killed
    }
  }
  throw new Error(`cannot take the rotation lock ${file}`);
}
