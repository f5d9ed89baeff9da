import crypto from 'node:crypto';
import fs from 'node:fs';

/** Writes a new secret file with mode 0600 via link(), so a concurrent starter never sees it half-written. */
export function createSecretFileAtomically(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { flag: 'wx', mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
}
