/**
 * The Widevine API's answers that are not keys: `CommonEncryptionResponse.status` values. Widevine's service
 * sends them in an HTTP 200 envelope, and Shaka Packager reads them from there (it retries only
 * `INTERNAL_ERROR`, a transient fault, and fails on every other one).
 */

/** Status names of `CommonEncryptionResponse.Status` that Keyplane answers with. */
export type WidevineStatus =
  | 'SIGNATURE_FAILED'
  | 'CONTENT_ID_MISSING'
  | 'TRACK_TYPE_MISSING'
  | 'TRACK_TYPE_UNKNOWN'
  | 'MALFORMED_REQUEST'
  | 'ACCESS_DENIED'
  | 'INTERNAL_ERROR'
  | 'NO_REQUESTED_CRYPTO_PERIODS'
  | 'INVALID_WIDEVINE_PSSH';

/** A refused Widevine API request: the status and a message saying what was wrong (never a secret). */
export class WidevineStatusError extends Error {
  constructor(
    readonly status: WidevineStatus,
    message: string,
  ) {
    super(message);
    this.name = 'WidevineStatusError';
  }
}
