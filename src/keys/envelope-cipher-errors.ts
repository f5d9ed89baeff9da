import type { KeyContext } from './envelope-cipher';

/**
 * A stored value cannot be opened: it was sealed for another (resource ID, KID), under another
 * master key or encryption context, or it was tampered with. Retrying will not help, so this is
 * deliberately not a ServiceUnavailableError. The message names the context, never key bytes.
 */
export class KeyUnsealError extends Error {
  constructor(
    readonly context: KeyContext,
    reason = 'it was sealed for another context or key, or is corrupt',
    options?: { cause?: unknown },
  ) {
    super(`Stored key for resource "${context.resourceId}", KID ${context.kid} cannot be opened: ${reason}`, options);
    this.name = 'KeyUnsealError';
  }
}
