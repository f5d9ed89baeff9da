/**
 * What the session routes share: their deps, the session's URLs, the origin playlist fetched and
 * rewritten into a session, and the audit event of a session step.
 */
import type { Request } from 'express';
import type { AccessPolicy } from '../auth/access-policy';
import { NotConfiguredError } from '../auth/delivery-errors';
import type { OwnerReader } from '../auth/resource-scope';
import type { SessionClaims, SessionIds } from '../auth/session-ids';
import type { AuditEvent } from '../audit/audit-log';
import { KeyplaneError } from '../errors';
import { fetchPlaylist, invalidOriginPlaylist, originBase, OriginError, type OriginConfig } from '../hls/origin';
import { PlaylistSyntaxError, rewriteBounded } from '../hls/playlist';
import { AlreadyEncryptedError, rewriteForSession, SESSION_PARAMS, SessionPlaylistError } from '../hls/session-rewrite';
import { requestClient } from '../http/client-info';
import { queryForOrigin } from './delivery-http';

/**
 * What the session routes need; `ids` absent: sessions answer 501 naming KEYPLANE_SESSION_SECRET;
 * `origin` absent: 501 naming KEYPLANE_ORIGIN_URL.
 */
export interface SessionRouteDeps {
  ids?: SessionIds;
  policy: AccessPolicy;
  owners: OwnerReader;
  publicUrl: string;
  origin?: OriginConfig;
  /** Bind each session to the client address that opened it (KEYPLANE_SESSION_BIND_IP). */
  bindClientIp: boolean;
  segmentMaxBytes: number;
  segmentTimeoutMs: number;
}

/** The clear-HLS origin sessions read from, or 501 saying what enables it. */
export function sessionOriginOf(deps: SessionRouteDeps): OriginConfig {
  if (!deps.origin) {
    throw new NotConfiguredError('Session-level encryption needs KEYPLANE_ORIGIN_URL (where the clear HLS is)');
  }
  return deps.origin;
}

/** The id service, or 501 saying what enables it. */
export function sessionIdsOf(deps: SessionRouteDeps): SessionIds {
  sessionOriginOf(deps);
  if (!deps.ids) {
    throw new NotConfiguredError(
      'Sessions need KEYPLANE_SESSION_SECRET with KMS (no local master key to derive a shared secret from)',
    );
  }
  return deps.ids;
}

/** The HLS media type playlists are answered with. */
export const HLS_TYPE = 'application/vnd.apple.mpegurl';

/** `…/sessions/{sessionId}/hls/{resourceId}/`. */
export function sessionBase(publicUrl: string, id: string, resourceId: string): string {
  return `${publicUrl}/sessions/${id}/hls/${encodeURIComponent(resourceId)}/`;
}

/** Playlist delivery directives a player may add (`_HLS_skip` asks for a delta update). */
const HLS_DIRECTIVES = ['_HLS_skip', '_HLS_msn', '_HLS_part'];

/**
 * The query of a session URI minus the session's own parameters, low-latency directives and any
 * credential: what the origin is asked with (the rest came from the origin's own playlist).
 */
export function originQuery(req: Request, origin: OriginConfig): string {
  return queryForOrigin(req.originalUrl, [
    ...Object.values(SESSION_PARAMS),
    // Delivery directives of low-latency HLS: a session serves whole playlists (see session-rewrite.ts).
    ...HLS_DIRECTIVES,
    ...(origin.credentialParams ?? []),
  ]);
}

/** Content the session would have to encrypt twice: 502 with reason `origin_already_encrypted`. */
class OriginEncryptedError extends KeyplaneError {
  constructor(tag: string) {
    super(
      502,
      'bad_gateway',
      `Origin content is already encrypted (${tag} with a METHOD other than NONE): sessions encrypt clear HLS only`,
      { details: { reason: 'origin_already_encrypted' } },
    );
  }
}

/**
 * Fetches `path` (below the resource's origin base) and rewrites it into session `id`. The origin's
 * text is never quoted back: only the rule broken (and the line).
 */
export async function sessionPlaylist(
  deps: SessionRouteDeps,
  id: string,
  resourceId: string,
  path: string,
  query: string,
): Promise<string> {
  const origin = sessionOriginOf(deps);
  const base = originBase(origin, resourceId);
  const fetched = await fetchPlaylist(new URL(`${path}${query}`, base), origin);
  try {
    const prefix = sessionBase(deps.publicUrl, id, resourceId);
    return rewriteBounded(fetched.text, origin.maxBytes, prefix.length, (parsed) =>
      rewriteForSession(parsed, {
        playlistUrl: fetched.url,
        originBase: base,
        sessionBase: prefix,
        keyUri: `${deps.publicUrl}/sessions/${id}/key`,
      }),
    );
  } catch (err) {
    if (err instanceof AlreadyEncryptedError) throw new OriginEncryptedError(err.tag);
    if (err instanceof SessionPlaylistError)
      throw new OriginError(`Origin playlist cannot go through a session: ${err.rule}`);
    if (err instanceof PlaylistSyntaxError) throw invalidOriginPlaylist(err);
    throw err;
  }
}

/** The audit event of a session step that went through (opened, key delivered, segment served). */
export function sessionEvent(req: Request, route: string, claims: SessionClaims, principal?: string): AuditEvent {
  const ip = requestClient(req).ip;
  return {
    action: 'deliver',
    route,
    resourceId: claims.resourceId,
    tenant: claims.tenant,
    status: 200,
    principal: principal ?? `session:${claims.nonce}`,
    ...(ip === '' ? {} : { clientIp: ip }),
  };
}
