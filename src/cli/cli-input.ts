/**
 * Reading and checking what users pass on the command line: integers, certificate and key files.
 * Every failure is a UsageError naming the option.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { UsageError } from './cli-errors';

/** Parses a whole number in [min, max] from an option value. */
export function intOption(raw: string | undefined, option: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${option} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new UsageError(`${option} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function readFile(file: string, option: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(
      `${option} ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** Reads an X.509 certificate (PEM or DER) and returns its DER bytes. */
export function readCertificateDer(file: string, option = '--cert'): Buffer {
  const bytes = readFile(file, option);
  try {
    return Buffer.from(new X509Certificate(bytes).raw);
  } catch {
    throw new UsageError(`${option} ${file}: not an X.509 certificate (PEM or DER expected)`);
  }
}

/** Reads a private key (PEM or DER, PKCS#8 or PKCS#1). */
export function readPrivateKey(file: string, option = '--key'): KeyObject {
  const bytes = readFile(file, option);
  try {
    return bytes.includes('-----BEGIN')
      ? createPrivateKey(bytes)
      : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch {
    throw new UsageError(`${option} ${file}: not a readable (unencrypted) private key`);
  }
}
