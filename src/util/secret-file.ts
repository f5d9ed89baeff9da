import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a new secret file with mode 0600 via link(), so a concurrent starter never sees it half-written,
 * and durably: the file is fsynced before it is linked and the directory after, since the keys sealed
 * with it right after are (a power loss must not keep them and lose the key).
 */
export function createSecretFileAtomically(file: string, content: string): void {
  const tmp = writeSyncedTemp(file, content);
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
  syncDirectory(path.dirname(file));
}

/** Writes `content` to a new 0600 temp file beside `file` and fsyncs it; returns its name. */
export function writeSyncedTemp(file: string, content: string): string {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

/** fsyncs a directory so a link, rename or unlink in it survives a power loss. */
export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A secret file that group or others can read or write; the message names the file and the fix. */
export class SecretFileModeError extends Error {
  constructor(
    readonly file: string,
    mode: number,
  ) {
    super(`${file} is accessible by group/others (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
    this.name = 'SecretFileModeError';
  }
}

/**
 * Refuses a secret file (master key, token signing keys, SigV4 credentials) whose mode lets group or
 * others in: throws SecretFileModeError saying `chmod 600`. Other stat errors (ENOENT) pass through.
 */
export function checkSecretFileMode(file: string): void {
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new SecretFileModeError(file, mode);
}

/** Reads a secret file as UTF-8, checking the mode of the file it opened (not a path that may change meanwhile). */
export function readSecretFile(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const mode = fs.fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new SecretFileModeError(file, mode);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
