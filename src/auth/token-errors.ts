import { GoneError, KeyplaneError } from '../errors';

/**
 * Refusals of a playback token whose signature verified: they carry its `jti` (never in the response)
 * so the audit trail can name the caller as `token:<jti>`.
 */
interface VerifiedTokenRefusal {
  readonly tokenJti?: string;
}

/** A playback token that verified but was revoked (`DELETE /playback-tokens/{jti}`): 401 `token_revoked`. */
export class TokenRevokedError extends KeyplaneError implements VerifiedTokenRefusal {
  constructor(readonly tokenJti: string) {
    super(401, 'unauthorized', 'Playback token has been revoked', {
      headers: { 'WWW-Authenticate': 'Bearer realm="keyplane"' },
      details: { reason: 'token_revoked' },
    });
  }
}

/** A playback token whose signature verified but whose `exp` has passed: 410. */
export class TokenExpiredError extends GoneError implements VerifiedTokenRefusal {
  constructor(readonly tokenJti?: string) {
    super('Playback token has expired');
  }
}

/** An EdgeAuth token whose HMAC verified but whose `exp` has passed: 410, as for playback tokens. */
export class EdgeAuthExpiredError extends GoneError {
  constructor() {
    super('EdgeAuth token has expired');
  }
}

/** The jti of a verified token an error refused, if it is such a refusal. */
export function refusedTokenJti(err: unknown): string | undefined {
  if (!(err instanceof TokenRevokedError || err instanceof TokenExpiredError)) return undefined;
  return typeof err.tokenJti === 'string' ? err.tokenJti : undefined;
}
