import type { ClientInfo } from '../auth/access-policy';
import { AccessDeniedError, NotConfiguredError } from '../auth/delivery-errors';
import type { PlaybackGrant, PlaybackTokenService } from '../auth/playback-tokens';
import type { Principal } from '../auth/principal';
import { DEFAULT_TENANT } from '../domain/tenants';

/**
 * What a caller may open, however it proved it (API key or SigV4 with the keyserver role, a playback
 * token in a header, the query, a cookie or the path, an EdgeAuth token, a secure link): one shape for
 * every delivery route.
 */
export interface DeliveryGrant {
  /** Who, for the audit trail: an API key id, `sigv4:…`, `token:<jti>`, `edgeauth:<id>`, `secure-link:<clientId>`. */
  principal?: string;
  /** The only resource it opens (playback tokens, secure links); absent: any (the keyserver role). */
  resourceId?: string;
  /** The only KIDs it opens (playback tokens that list KIDs); absent: every KID of the resource. */
  kids?: ReadonlySet<string>;
  /**
   * The tenant it acts for: only resources that tenant owns are opened (`*`: any). Absent for secure
   * links, whose one shared secret is the deployment's, not a tenant's.
   */
  tenant?: string;
}

/** One delivery request as the services see it: the route (for the audit), the grant and the client. */
export interface DeliveryContext {
  /** The route as its manifest and OpenAPI name it, e.g. `GET /keys/{resourceId}/{kid}`. */
  route: string;
  grant: DeliveryGrant;
  client: ClientInfo;
}

/**
 * Whether the caller is a player credential (a playback token, an EdgeAuth token): it holds no role, and
 * the delivery routes take it in place of the keyserver role, scoped by its grant (and, for EdgeAuth,
 * by its ACL, already checked against the path).
 */
export function isPlayerCredential(principal: Principal): boolean {
  return principal.via === 'token' || principal.via === 'edgeauth';
}

/** The grant of an authenticated caller: a playback token's scope, or (keyserver, admin) no limit. */
export function principalGrant(principal: Principal): DeliveryGrant {
  return {
    principal: principal.id,
    ...(principal.via === 'token' && principal.resourceId !== undefined ? { resourceId: principal.resourceId } : {}),
    ...(principal.via === 'token' && principal.kids ? { kids: principal.kids } : {}),
    tenant: principal.tenant,
  };
}

/** The grant of a verified playback token (e.g. from the path). */
export function tokenGrant(grant: PlaybackGrant): DeliveryGrant {
  return {
    principal: `token:${grant.jti}`,
    resourceId: grant.resourceId,
    ...(grant.kids ? { kids: grant.kids } : {}),
    // Tokens minted before tenants carry no `ten`: they were for `default` resources.
    tenant: grant.tenant ?? DEFAULT_TENANT,
  };
}

/** The grant of a verified secure link: one resource, every KID. */
export function secureLinkGrant(clientId: string, resourceId: string): DeliveryGrant {
  return { principal: `secure-link:${clientId}`, resourceId };
}

/**
 * The one "does this grant cover it" check: 403 `token_resource_mismatch` when the grant is for
 * another resource, `token_kid_not_allowed` when it lists KIDs and not this one. `named` words the
 * messages for requests that name several KIDs (Clear Key licenses).
 */
export function checkGrantCovers(grant: DeliveryGrant, target: { resourceId?: string; kid?: string }, named = false) {
  const { resourceId, kid } = target;
  if (resourceId !== undefined && grant.resourceId !== undefined && grant.resourceId !== resourceId) {
    throw new AccessDeniedError(
      'token_resource_mismatch',
      named
        ? `KID ${kid} belongs to a different resource than the playback token`
        : 'Playback token was issued for a different resource',
    );
  }
  if (kid !== undefined && grant.kids && !grant.kids.has(kid)) {
    throw new AccessDeniedError(
      'token_kid_not_allowed',
      named ? `Playback token does not cover KID ${kid}` : 'Playback token does not cover this KID',
    );
  }
}

/** The token service, or 501 naming what configures it. */
export function tokensOf(tokens: PlaybackTokenService | undefined): PlaybackTokenService {
  if (!tokens) throw new NotConfiguredError('Playback tokens need KEYPLANE_TOKEN_SIGNING_KEYS with this store');
  return tokens;
}
