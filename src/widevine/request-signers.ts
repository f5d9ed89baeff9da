/**
 * Who may call the Widevine Common Encryption API: named signers, each with the AES key + IV or the RSA public
 * key it signs with, and the tenant it acts for. Signatures are Shaka Packager's (`request_signer.cc`): AES is
 * AES-256-CBC (PKCS#5 padding) of SHA-1(request); RSA is RSASSA-PSS with SHA-1, MGF1-SHA-1 and a 20-byte salt.
 */
import crypto from 'node:crypto';

/** One signer as configured (`KEYPLANE_WIDEVINE_SIGNERS` / `KEYPLANE_WIDEVINE_RSA_SIGNERS`). */
export type WidevineSigner =
  | { name: string; tenant: string; kind: 'aes'; key: Buffer; iv: Buffer }
  | { name: string; tenant: string; kind: 'rsa'; publicKey: crypto.KeyObject };

/** The signer a request was verified for. */
export interface VerifiedSigner {
  name: string;
  tenant: string;
}

const PSS_SALT_LENGTH = 20;

/** The AES signature of a message: AES-256-CBC(key, iv) over SHA-1(message), PKCS#5-padded (32 bytes). */
export function aesSignature(message: Buffer, key: Buffer, iv: Buffer): Buffer {
  const digest = crypto.createHash('sha1').update(message).digest();
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([cipher.update(digest), cipher.final()]);
}

/** Constant-time equality of two byte strings (lengths are not secret). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** A fixed AES key for unknown signer names, so they cost what a known one costs. */
const DECOY = { key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };

/**
 * Verifies signed requests against the configured signers. Unknown names, missing and wrong signatures all
 * answer `undefined` alike, so a caller learns nothing about which signer names exist.
 */
export class WidevineSigners {
  private readonly byName: Map<string, WidevineSigner>;

  constructor(signers: readonly WidevineSigner[]) {
    this.byName = new Map(signers.map((s) => [s.name, s]));
  }

  /** How many signers are configured (none: the API is off). */
  get size(): number {
    return this.byName.size;
  }

  /** The signer when `signature` is `name`'s signature of `message`; otherwise undefined. */
  verify(message: Buffer, signerName: string | undefined, signature: Buffer | undefined): VerifiedSigner | undefined {
    const signer = signerName === undefined ? undefined : this.byName.get(signerName);
    const sig = signature ?? Buffer.alloc(0);
    if (!signer || signer.kind === 'aes') {
      const { key, iv } = signer ?? DECOY;
      const ok = sameBytes(aesSignature(message, key, iv), sig);
      return ok && signer && signature ? { name: signer.name, tenant: signer.tenant } : undefined;
    }
    const ok = crypto.verify(
      'sha1',
      message,
      { key: signer.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH },
      sig,
    );
    return ok && signature ? { name: signer.name, tenant: signer.tenant } : undefined;
  }
}
