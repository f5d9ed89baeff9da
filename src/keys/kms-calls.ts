import type { KMSClientConfig } from '@aws-sdk/client-kms';
import { awsErrorName, awsUnavailable } from '../aws-errors';

/** KMS errors that mean the stored value itself cannot be opened (not a KMS outage). */
const UNSEAL_ERROR_NAMES = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
/** KMS errors that go away by themselves; clients should retry soon. */
const THROTTLE_ERROR_NAMES = new Set(['ThrottlingException', 'LimitExceededException']);

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

/** KMS refused to decrypt a data key; the cipher turns it into a KeyUnsealError naming each caller's context. */
export class DataKeyRefusedError extends Error {
  constructor(
    readonly kmsError: string,
    cause: unknown,
  ) {
    super(`AWS KMS refused to decrypt the data key: ${kmsError}`, { cause });
    this.name = 'DataKeyRefusedError';
  }
}

/**
 * Runs one KMS call and maps its failures: Decrypt refusals (`decrypting`) to DataKeyRefusedError,
 * everything else to a 503 whose Retry-After is short for throttling.
 */
export async function callKms<T>(call: () => Promise<T>, decrypting = false): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const name = awsErrorName(err);
    if (decrypting && UNSEAL_ERROR_NAMES.has(name)) throw new DataKeyRefusedError(name, err);
    throw awsUnavailable('AWS KMS', err, THROTTLE_ERROR_NAMES);
  }
}

/** Copies SDK-owned bytes into our own Buffer and wipes the SDK's copy. */
export function takeBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes);
  bytes.fill(0);
  return copy;
}
