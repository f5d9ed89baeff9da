/**
 * Secret files of a data dir that a backup carries, sealed by the store's cipher like every content key
 * (bound to `keyplane:data-dir` and the file name): today the playback-token keys, so tokens handed out
 * before a restore stay valid on the restored server. Absent files are skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { writeSecretFileDurably } from '../keys/master-key-rotation';
import type { SealedFile } from '../store/sqlite/backup-file';
import { readSecretFile } from '../util/secret-file';
import { CommandFailedError } from './cli-errors';

const CARRIED = ['token-keys.json'];
const contextOf = (name: string) => ({ resourceId: 'keyplane:data-dir', kid: name });

/** A carried file, opened. */
export interface OpenedFile {
  name: string;
  content: Buffer;
}

/** Seals the carried files present in a data dir (each must be mode 0600, as the server demands). */
export async function sealDataDirFiles(dataDir: string, cipher: EnvelopeCipher): Promise<SealedFile[]> {
  const out: SealedFile[] = [];
  for (const name of CARRIED) {
    const file = path.join(dataDir, name);
    if (!fs.existsSync(file)) continue;
    out.push({ name, sealed: await cipher.seal(Buffer.from(readSecretFile(file), 'utf8'), contextOf(name)) });
  }
  return out;
}

/** Opens the sealed files of a backup (before anything is written); refuses names it does not carry. */
export async function openDataDirFiles(files: SealedFile[], cipher: EnvelopeCipher): Promise<OpenedFile[]> {
  const out: OpenedFile[] = [];
  for (const f of files) {
    if (!CARRIED.includes(f.name)) throw new CommandFailedError(`the backup carries an unknown file "${f.name}"`);
    try {
      out.push({ name: f.name, content: await cipher.open(f.sealed, contextOf(f.name)) });
    } catch {
      throw new CommandFailedError(`the configured key cannot open ${f.name} in this backup: nothing was written`);
    }
  }
  return out;
}

/** Writes opened files into the data dir (0600, atomically); an existing one is kept unless `force`. */
export function writeDataDirFiles(dataDir: string, files: OpenedFile[], force: boolean): string[] {
  const written: string[] = [];
  for (const f of files) {
    const file = path.join(dataDir, f.name);
    if (fs.existsSync(file) && !force) continue;
    writeSecretFileDurably(file, f.content.toString('utf8'));
    written.push(f.name);
  }
  return written;
}
