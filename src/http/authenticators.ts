/**
 * The authenticators that read credentials off the HTTP request and hand the plain values to the
 * services in `src/auth/` (API key verification, playback token verification). SigV4 has its own
 * adapter (`sigv4-adapter.ts`); the API Gateway IAM one lives with the Lambda capture it reads.
 */
import crypto from 'node:crypto';
import type { ApiKeyService } from '../auth/api-keys';
import { bearerValue } from '../auth/bearer';
import type { EdgeAuthVerifier } from '../auth/edgeauth-token';
import { tokenPrincipal, type PlaybackTokenService } from '../auth/playback-tokens';
import type { HttpAuthenticator } from './authenticate';
import { clientIp } from './client-info';
import { edgeAuthToken, headerOrQueryToken, type TokenTransports } from './token-transports';

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

function presentedToken(req: TokenTransports, cookieName?: string): string | undefined {
  return headerOrQueryToken(req, bearerValue(req.get('authorization')), cookieName);
}

/**
 * Authenticator for playback tokens: a JWT-shaped `Authorization: Bearer` value, one `?token=` when no
 * other credential header is sent, or one `cookieName` cookie (`KEYPLANE_TOKEN_COOKIE`) when nothing else
 * is, each in canonical form only (see canonicalToken); two at once is a 401. Other bearer values (API
 * keys, which have no `.`) fall through untouched.
 */
export function playbackTokenAuthenticator(service: PlaybackTokenService, cookieName?: string): HttpAuthenticator {
  return async (req) => {
    const token = presentedToken(req, cookieName);
    return token === undefined ? undefined : tokenPrincipal(await service.verify(token));
  };
}

/** An EdgeAuth `id` safe to name the caller in the audit trail; anything else is left out. */
const AUDITABLE_ID = /^[A-Za-z0-9._:@-]{1,64}$/;

/**
 * Authenticator for Akamai EdgeAuth tokens (query parameter or cookie, see edgeAuthToken): verified
 * against the path as received and the client address; the principal acts for the key's tenant, with
 * no role, so it opens only delivery routes its ACL covers, and only that tenant's resources there.
 */
export function edgeAuthAuthenticator(
  verifier: EdgeAuthVerifier,
  opts: { tokenName: string; tokenCookie?: string },
): HttpAuthenticator {
  return async (req) => {
    const token = edgeAuthToken(req, opts.tokenName, opts.tokenCookie);
    if (token === undefined) return undefined;
    const rawPath = req.originalUrl.split('?')[0] ?? '';
    const grant = verifier.verify(token, { rawPath, clientIp: clientIp(req) });
    // Without a usable `id`, a digest of the token names it (per-credential limits, audit), never the token.
    const digest = () => `#${crypto.createHash('sha256').update(token).digest('hex').slice(0, 16)}`;
    const id = `edgeauth:${grant.id !== undefined && AUDITABLE_ID.test(grant.id) ? grant.id : digest()}`;
    return { id, roles: new Set(), via: 'edgeauth', tenant: grant.tenant };
  };
}
