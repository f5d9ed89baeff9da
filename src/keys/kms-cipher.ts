import crypto from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { ServiceUnavailableError } from '../errors';
import { pooledRandomBytes } from '../util/random-pool';
import { DataKeyCache } from './data-key-cache';
import type { EnvelopeCipher, KeyContext } from './envelope-cipher';
import { associatedData } from './envelope-cipher';
import { KeyUnsealError } from './envelope-cipher-errors';
import { callKms, DataKeyRefusedError, takeBytes } from './kms-calls';
import {
  DATA_KEY_BYTES,
  encodeSealed,
  MAX_ENCRYPTED_KEY_BYTES,
  NONCE_BYTES,
  parseSealed,
  sealedKeyArn,
} from './kms-sealed-format';

export { kmsClientTimeouts } from './kms-calls';

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
interface KmsCipherStats {
  generateDataKeyCalls: number;
  decryptCalls: number;
}

interface SealingKey {
  /** The ARN of the KMS key GenerateDataKey used (its response's KeyId), recorded in every value it seals. */
  keyArn?: string;
  plaintext: Buffer;
  encrypted: Buffer;
  expiresAt: number;
  uses: number;
}

/**
 * Envelope encryption under AWS KMS with data-key caching, like the AWS Encryption SDK's
 * caching CMM: one GenerateDataKey seals up to `maxDataKeyUses` values within `maxDataKeyAge`,
 * and decrypted data keys are kept in a bounded LRU, so KMS sees a handful of calls per
 * thousand keys. Concurrent callers share one in-flight KMS call per data key.
 *
 * Timeouts and retries belong to the injected client; see `kmsClientTimeouts()`. The sealed format is in
 * `kms-sealed-format.ts`, the decrypt LRU in `data-key-cache.ts`, KMS error mapping in `kms-calls.ts`.
 */
export class KmsEnvelopeCipher implements EnvelopeCipher {
  readonly name = 'kms';
  private readonly keyId: string;
  private readonly encryptionContext: Record<string, string>;
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private sealingKey: SealingKey | undefined;
  private pendingSealingKey: Promise<void> | undefined;
  private readonly decrypted: DataKeyCache;
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
    this.decrypted = new DataKeyCache(Math.max(0, options.decryptCacheSize ?? 1000), now);
  }

  async seal(plaintext: Buffer, context: KeyContext): Promise<Buffer> {
    const dataKey = await this.acquireSealingKey();
    const nonce = pooledRandomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', dataKey.plaintext, nonce);
    cipher.setAAD(associatedData(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return encodeSealed({
      keyArn: dataKey.keyArn,
      encryptedKey: dataKey.encrypted,
      nonce,
      tag: cipher.getAuthTag(),
      body,
    });
  }

  async open(sealed: Buffer, context: KeyContext): Promise<Buffer> {
    const parsed = parseSealed(sealed, context);
    const dataKey = await this.decryptDataKey(parsed.encryptedKey, parsed.keyArn, context);
    const decipher = crypto.createDecipheriv('aes-256-gcm', dataKey, parsed.nonce);
    decipher.setAAD(associatedData(context));
    decipher.setAuthTag(parsed.tag);
    try {
      return Buffer.concat([decipher.update(parsed.body), decipher.final()]);
    } catch {
      throw new KeyUnsealError(context);
    }
  }

  /** The KMS key ARN a format-4 value names (format 1 names none). */
  sealedBy(sealed: Buffer): string | undefined {
    return sealedKeyArn(sealed);
  }

  /** The ARN of the KMS key that seals now (as GenerateDataKey reports it; one call when no data key is cached). */
  async sealingKeyId(): Promise<string> {
    while (!this.usableSealingKey()) await this.startRefresh();
    return this.sealingKey?.keyArn ?? this.keyId;
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
    const res = await callKms(() =>
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
    if (encrypted.length > MAX_ENCRYPTED_KEY_BYTES) {
      throw new Error('KMS CiphertextBlob is too long for the sealed format');
    }
    const expiresAt = this.now() + this.maxAgeMs;
    this.sealingKey = { keyArn: res.KeyId, plaintext, encrypted, expiresAt, uses: 0 };
    this.decrypted.remember(encrypted.toString('base64'), { plaintext, expiresAt });
  }

  /** Plaintext data key for an encrypted one: from the LRU, a shared in-flight Decrypt, or KMS. */
  private async decryptDataKey(encryptedKey: Buffer, keyArn: string | undefined, context: KeyContext): Promise<Buffer> {
    const cacheKey = encryptedKey.toString('base64');
    const cached = this.decrypted.recall(cacheKey);
    if (cached) return cached;
    let pending = this.pendingDecrypts.get(cacheKey);
    if (!pending) {
      pending = this.kmsDecrypt(encryptedKey, keyArn, cacheKey).finally(() => this.pendingDecrypts.delete(cacheKey));
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

  /**
   * Format 4 names its KMS key and KMS must use that one; format 1 (before key ids) names none, so KMS
   * finds the key from the CiphertextBlob: values sealed before a change of KEYPLANE_KMS_KEY_ID still open.
   */
  private async kmsDecrypt(encryptedKey: Buffer, keyArn: string | undefined, cacheKey: string): Promise<Buffer> {
    this.counts.decryptCalls++;
    const res = await callKms(
      () =>
        this.client.send(
          new DecryptCommand({
            CiphertextBlob: encryptedKey,
            KeyId: keyArn,
            EncryptionContext: this.encryptionContext,
          }),
        ),
      true,
    );
    if (res.Plaintext?.length !== DATA_KEY_BYTES) {
      throw new ServiceUnavailableError('AWS KMS unavailable: Decrypt returned no usable data key');
    }
    const plaintext = takeBytes(res.Plaintext);
    this.decrypted.remember(cacheKey, { plaintext, expiresAt: this.now() + this.maxAgeMs });
    return plaintext;
  }
}

function positive(value: number, field: string): number {
  if (!(value > 0)) throw new Error(`KMS cipher option ${field} must be positive`);
  return value;
}
