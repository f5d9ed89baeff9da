/**
 * Reading and checking what users pass on the command line: integers, certificate and key files.
 * Every failure is a UsageError naming the option.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { RESOURCE_ID_PATTERN, UUID_PATTERN } from '../domain/ids';
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

/** Checks a KID (a UUID) from an option and returns it in lower case. */
export function kidOption(raw: string, option: string): string {
  const kid = raw.trim();
  if (!UUID_PATTERN.test(kid)) {
    throw new UsageError(`${option} must be a KID in UUID form (8-4-4-4-12 hex digits), got "${raw}"`);
  }
  return kid.toLowerCase();
}

/** Checks a hex value of `bytes` bytes from an option and returns its bytes. */
export function hexOption(raw: string, option: string, bytes: number): Buffer {
  const hex = raw.trim();
  if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i').test(hex)) {
    throw new UsageError(`${option} must be ${bytes * 2} hex digits (${bytes} bytes), got "${raw}"`);
  }
  return Buffer.from(hex, 'hex');
}

/** Checks a resource ID from an option with the server's own rule, before any request is sent. */
export function resourceIdOption(raw: string, option = '--resource-id'): string {
  if (!RESOURCE_ID_PATTERN.test(raw)) {
    throw new UsageError(
      `${option} must be 1-256 characters of A-Z a-z 0-9 . _ ~ : @ + = -, starting with a letter or digit, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}
