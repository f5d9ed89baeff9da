import crypto from 'node:crypto';
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { ServiceUnavailableError } from '../errors';
import type { EnvelopeCipher, KeyContext } from './envelope-cipher';
import { associatedData } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';
import { awsErrorName } from '../aws-errors';

/**
 * Sealed format (all integers big-endian):
 *
 *   version(1) = 1 ‖ edkLength(2) ‖ encryptedDataKey(edkLength) ‖ nonce(12) ‖ tag(16) ‖ ciphertext
 *
 * `encryptedDataKey` is the KMS CiphertextBlob of the AES-256 data key, so a sealed value
 * carries everything but the KMS key itself. GCM's AAD is `associatedData(context)`.
 */
const FORMAT_VERSION = 1;
const EDK_LENGTH_BYTES = 2;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

/** KMS errors that mean the stored value itself cannot be opened (not a KMS outage). */
const UNSEAL_ERROR_NAMES = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
/** KMS errors that go away by themselves; clients should retry soon. */
const THROTTLE_ERROR_NAMES = new Set(['ThrottlingException', 'LimitExceededException']);

/** Options of the KMS cipher; the KMS client itself is injected separately. */
export interface KmsCipherOptions {
  /** KMS key ID, key ARN, alias name or alias ARN of a symmetric encryption key. */
  keyId: string;
  /** Binds every data key to this deployment, e.g. `{ app: 'keyplane', deployment: 'prod' }`. Must not be empty. */
  encryptionContext: Record<string, string>;
  /** How long one data key may seal values (and stay in the decrypt cache). Default 5 minutes. */
  maxDataKeyAgeMs?: number;
  /** How many values one data key may seal. Default 1000. */
  maxDataKeyUses?: number;
  /** How many decrypted data keys to keep (LRU). Default 1000; 0 disables the cache. */
  decryptCacheSize?: number;
}

/** KMS calls made so far, for benchmarks (calls per 100 keys) and health output. */
export interface KmsCipherStats {
  generateDataKeyCalls: number;
  decryptCalls: number;
}

/**
 * Client settings that make a KMS outage surface within a few seconds instead of hanging a
 * SPEKE request: 1 s to connect, 3 s per request (thrown, not just logged), 2 attempts.
 * Spread into `new KMSClient({ region, ...kmsClientTimeouts() })`.
 */
export function kmsClientTimeouts(): Pick<KMSClientConfig, 'maxAttempts' | 'requestHandler'> {
  return {
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
  };
}

interface SealingKey {
  plaintext: Buffer;
  encrypted: Buffer;
  expiresAt: number;
  uses: number;
}

interface CachedKey {
  plaintext: Buffer;
  expiresAt: number;
}

/** KMS refused to decrypt a data key; turned into a KeyUnsealError naming each caller's context. */
class DataKeyRefusedError extends Error {
  constructor(
    readonly kmsError: string,
    cause: unknown,
  ) {
    super(`AWS KMS refused to decrypt the data key: ${kmsError}`, { cause });
    this.name = 'DataKeyRefusedError';
  }
}

interface ParsedSealed {
  encryptedKey: Buffer;
  nonce: Buffer;
  tag: Buffer;
  body: Buffer;
}

/**
 * Envelope encryption under AWS KMS with data-key caching, like the AWS Encryption SDK's
 * caching CMM: one GenerateDataKey seals up to `maxDataKeyUses` values within `maxDataKeyAge`,
 * and decrypted data keys are kept in a bounded LRU, so KMS sees a handful of calls per
 * thousand keys. Concurrent callers share one in-flight KMS call per data key.
 *
 * Timeouts and retries belong to the injected client; see `kmsClientTimeouts()`.
 */
export class KmsEnvelopeCipher implements EnvelopeCipher {
  readonly name = 'kms';
  private readonly keyId: string;
  private readonly encryptionContext: Record<string, string>;
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private readonly cacheSize: number;
  private sealingKey: SealingKey | undefined;
  private pendingSealingKey: Promise<void> | undefined;
  private readonly decrypted = new Map<string, CachedKey>();
  private readonly pendingDecrypts = new Map<string, Promise<Buffer>>();
  private readonly counts: KmsCipherStats = { generateDataKeyCalls: 0, decryptCalls: 0 };

  constructor(
    private readonly client: KMSClient,
    options: KmsCipherOptions,
    private readonly now: () => number = Date.now,
  ) {
    if (!options.keyId) throw new Error('KMS cipher needs a keyId');
    if (Object.keys(options.encryptionContext).length === 0) {
      throw new Error('KMS cipher needs a non-empty encryptionContext that names the deployment');
    }
    this.keyId = options.keyId;
    this.encryptionContext = { ...options.encryptionContext };
    this.maxAgeMs = positive(options.maxDataKeyAgeMs ?? 5 * 60_000, 'maxDataKeyAgeMs');
    this.maxUses = positive(options.maxDataKeyUses ?? 1000, 'maxDataKeyUses');
    this.cacheSize = Math.max(0, options.decryptCacheSize ?? 1000);
  }

  async seal(plaintext: Buffer, context: KeyContext): Promise<Buffer> {
    const dataKey = await this.acquireSealingKey();
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', dataKey.plaintext, nonce);
    cipher.setAAD(associatedData(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const header = Buffer.alloc(1 + EDK_LENGTH_BYTES);
    header.writeUInt8(FORMAT_VERSION, 0);
    header.writeUInt16BE(dataKey.encrypted.length, 1);
    return Buffer.concat([header, dataKey.encrypted, nonce, cipher.getAuthTag(), body]);
  }

  async open(sealed: Buffer, context: KeyContext): Promise<Buffer> {
    const parsed = parseSealed(sealed, context);
    const dataKey = await this.decryptDataKey(parsed.encryptedKey, context);
    const decipher = crypto.createDecipheriv('aes-256-gcm', dataKey, parsed.nonce);
    decipher.setAAD(associatedData(context));
    decipher.setAuthTag(parsed.tag);
    try {
      return Buffer.concat([decipher.update(parsed.body), decipher.final()]);
    } catch {
      throw new KeyUnsealError(context);
    }
  }

  /** KMS calls made by this cipher so far (failed calls included). */
  stats(): KmsCipherStats {
    return { ...this.counts };
  }

  /**
   * Fetches a data key now when none with uses left is cached, without waiting for it: a SPEKE request
   * overlaps the GenerateDataKey round trip (on a cold Lambda, a TLS handshake too) with its store reads.
   */
  prepareToSeal(): void {
    if (this.usableSealingKey()) return;
    this.startRefresh().catch(() => undefined); // `seal` awaits the same promise and reports its failure
  }

  /** Returns a data key with uses left, generating one (once, shared by all waiters) when needed. */
  private async acquireSealingKey(): Promise<SealingKey> {
    for (;;) {
      const current = this.usableSealingKey();
      if (current) {
        current.uses++;
        return current;
      }
      await this.startRefresh();
    }
  }

  private usableSealingKey(): SealingKey | undefined {
    const current = this.sealingKey;
    return current && current.uses < this.maxUses && this.now() < current.expiresAt ? current : undefined;
  }

  /** The in-flight GenerateDataKey, started when there is none. */
  private startRefresh(): Promise<void> {
    this.pendingSealingKey ??= this.refreshSealingKey().finally(() => {
      this.pendingSealingKey = undefined;
    });
    return this.pendingSealingKey;
  }

  private async refreshSealingKey(): Promise<void> {
    this.counts.generateDataKeyCalls++;
    const res = await this.callKms(() =>
      this.client.send(
        new GenerateDataKeyCommand({
          KeyId: this.keyId,
          KeySpec: 'AES_256',
          EncryptionContext: this.encryptionContext,
        }),
      ),
    );
    if (res.Plaintext?.length !== DATA_KEY_BYTES || !res.CiphertextBlob?.length) {
      throw new ServiceUnavailableError('AWS KMS unavailable: GenerateDataKey returned no usable data key');
    }
    const plaintext = takeBytes(res.Plaintext);
    const encrypted = Buffer.from(res.CiphertextBlob);
    if (encrypted.length > 0xffff) throw new Error('KMS CiphertextBlob is too long for the sealed format');
    const expiresAt = this.now() + this.maxAgeMs;
    this.sealingKey = { plaintext, encrypted, expiresAt, uses: 0 };
    this.remember(encrypted.toString('base64'), { plaintext, expiresAt });
  }

  /** Plaintext data key for an encrypted one: from the LRU, a shared in-flight Decrypt, or KMS. */
  private async decryptDataKey(encryptedKey: Buffer, context: KeyContext): Promise<Buffer> {
    const cacheKey = encryptedKey.toString('base64');
    const cached = this.recall(cacheKey);
    if (cached) return cached;
    let pending = this.pendingDecrypts.get(cacheKey);
    if (!pending) {
      pending = this.kmsDecrypt(encryptedKey, cacheKey).finally(() => this.pendingDecrypts.delete(cacheKey));
      this.pendingDecrypts.set(cacheKey, pending);
    }
    try {
      return await pending;
    } catch (err) {
      // One shared Decrypt may serve several callers; each gets an error naming its own context.
      if (err instanceof DataKeyRefusedError) {
        throw new KeyUnsealError(context, `AWS KMS refused its data key (${err.kmsError})`, { cause: err });
      }
      throw err;
    }
  }

  private async kmsDecrypt(encryptedKey: Buffer, cacheKey: string): Promise<Buffer> {
    this.counts.decryptCalls++;
    const res = await this.callKms(
      () =>
        this.client.send(
          new DecryptCommand({
            CiphertextBlob: encryptedKey,
            KeyId: this.keyId,
            EncryptionContext: this.encryptionContext,
          }),
        ),
      true,
    );
    if (res.Plaintext?.length !== DATA_KEY_BYTES) {
      throw new ServiceUnavailableError('AWS KMS unavailable: Decrypt returned no usable data key');
    }
    const plaintext = takeBytes(res.Plaintext);
    this.remember(cacheKey, { plaintext, expiresAt: this.now() + this.maxAgeMs });
    return plaintext;
  }

  private recall(cacheKey: string): Buffer | undefined {
    const entry = this.decrypted.get(cacheKey);
    if (!entry) return undefined;
    this.decrypted.delete(cacheKey);
    if (this.now() >= entry.expiresAt) return undefined;
    this.decrypted.set(cacheKey, entry); // most recently used goes last
    return entry.plaintext;
  }

  private remember(cacheKey: string, entry: CachedKey): void {
    if (this.cacheSize === 0) return;
    this.decrypted.delete(cacheKey);
    this.decrypted.set(cacheKey, entry);
    while (this.decrypted.size > this.cacheSize) {
      const oldest = this.decrypted.keys().next();
      if (oldest.done) break;
      this.decrypted.delete(oldest.value);
    }
  }

  /** Runs one KMS call and maps its failures: Decrypt refusals to DataKeyRefusedError, everything else to 503. */
  private async callKms<T>(call: () => Promise<T>, decrypting = false): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const name = awsErrorName(err);
      if (decrypting && UNSEAL_ERROR_NAMES.has(name)) throw new DataKeyRefusedError(name, err);
      const retryAfter = THROTTLE_ERROR_NAMES.has(name) ? 1 : 5;
      throw new ServiceUnavailableError(`AWS KMS unavailable: ${name}`, retryAfter, err);
    }
  }
}

function positive(value: number, field: string): number {
  if (!(value > 0)) throw new Error(`KMS cipher option ${field} must be positive`);
  return value;
}

/** Copies SDK-owned bytes into our own Buffer and wipes the SDK's copy. */
function takeBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes);
  bytes.fill(0);
  return copy;
}

function parseSealed(sealed: Buffer, context: KeyContext): ParsedSealed {
  const headerBytes = 1 + EDK_LENGTH_BYTES;
  if (sealed.length < headerBytes || sealed[0] !== FORMAT_VERSION) {
    throw new KeyUnsealError(context, 'it is not a KMS-sealed value');
  }
  const edkLength = sealed.readUInt16BE(1);
  const nonceAt = headerBytes + edkLength;
  const bodyAt = nonceAt + NONCE_BYTES + TAG_BYTES;
  if (edkLength === 0 || sealed.length < bodyAt) throw new KeyUnsealError(context, 'it is truncated');
  return {
    encryptedKey: sealed.subarray(headerBytes, nonceAt),
    nonce: sealed.subarray(nonceAt, nonceAt + NONCE_BYTES),
    tag: sealed.subarray(nonceAt + NONCE_BYTES, bodyAt),
    body: sealed.subarray(bodyAt),
  };
}
