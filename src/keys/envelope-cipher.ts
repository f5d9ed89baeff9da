/**
 * Envelope encryption of key material at rest. Every sealed value is bound to the
 * (resource ID, KID) it belongs to, so a row copied to another resource fails to open.
 */
export interface KeyContext {
  resourceId: string;
  kid: string;
}

/** Seals and opens key material; one implementation per key-management backend (local file, AWS KMS). */
export interface EnvelopeCipher {
  /** Short name for health output and logs, e.g. `local` or `kms`. */
  readonly name: string;
  /** Encrypts `plaintext` bound to `context`; the result is opaque and self-describing. */
  seal(plaintext: Buffer, context: KeyContext): Promise<Buffer>;
  /** Decrypts a sealed value; throws if it was sealed for another context or tampered with. */
  open(sealed: Buffer, context: KeyContext): Promise<Buffer>;
  /**
   * Starts whatever the next `seal` would wait for (KMS: a data key, when none is cached), so a
   * caller can overlap it with its own reads. Never rejects: a failure shows up in `seal`.
   */
  prepareToSeal?(): void;
  /**
   * Which key sealed a value (local: master key fingerprint; KMS: key ARN), or undefined for a value in
   * a format older than key ids. Rotation, re-wrap and backups count records by it.
   */
  sealedBy?(sealed: Buffer): string | undefined;
  /** The id (as `sealedBy` reports it) of the key that seals now. */
  sealingKeyId?(): Promise<string>;
}

/** Associated data that binds a sealed value to its (resource ID, KID). */
export function associatedData(context: KeyContext): Buffer {
  return Buffer.from(`keyplane:v1\0${context.resourceId}\0${context.kid}`, 'utf8');
}
