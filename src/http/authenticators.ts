/**
 * The authenticators that read credentials off the HTTP request and hand the plain values to the
 * services in `src/auth/` (API key verification, playback token verification). SigV4 has its own
 * adapter (`sigv4-adapter.ts`); the API Gateway IAM one lives with the Lambda capture it reads.
 */
import type { ApiKeyService } from '../auth/api-keys';
import { bearerValue } from '../auth/bearer';
import { tokenPrincipal, type PlaybackTokenService } from '../auth/playback-tokens';
import type { HttpAuthenticator } from './authenticate';
import { headerOrQueryToken, type TokenTransports } from './token-transports';

/** The API key a request presents: a Bearer value, else the `x-api-key` header. */
function presentedApiKey(req: TokenTransports): string | undefined {
  return bearerValue(req.get('authorization')) ?? req.get('x-api-key');
}

/** Authenticator for `Authorization: Bearer <key>` / `x-api-key`; unknown keys fall through (401 at the end). */
export function apiKeyAuthenticator(service: ApiKeyService): HttpAuthenticator {
  return async (req) => {
    const presented = presentedApiKey(req);
    return presented === undefined ? undefined : service.verify(presented);
  };
}

function presentedToken(req: TokenTransports): string | undefined {
  return headerOrQueryToken(req, bearerValue(req.get('authorization')));
}

/**
 * Authenticator for playback tokens: a JWT-shaped `Authorization: Bearer` value, or one `?token=` when
 * no other credential header is sent, each in canonical form only (see canonicalToken); both at once is
 * a 401. Other bearer values (API keys, which have no `.`) fall through untouched.
 */
export function playbackTokenAuthenticator(service: PlaybackTokenService): HttpAuthenticator {
  return async (req) => {
    const token = presentedToken(req);
    return token === undefined ? undefined : tokenPrincipal(await service.verify(token));
  };
}
