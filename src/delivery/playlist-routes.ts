import { Router } from 'express';
import { EXACT_ROUTING } from '../http/exact-routing';
import type { AccessPolicy } from '../auth/access-policy';
import { pathToken } from '../http/token-transports';
import { NotConfiguredError } from '../auth/delivery-errors';
import type { PlaybackTokenService } from '../auth/playback-tokens';
import { BadRequestError } from '../errors';
import { fetchPlaylist, invalidOriginPlaylist, originBase, OriginError, type OriginConfig } from '../hls/origin';
import { KeyUriError, rewriteForPlayback } from '../hls/playback-rewrite';
import { PlaylistSyntaxError, rewriteBounded } from '../hls/playlist';
import { noStore } from '../http/respond';
import { noteVerifiedCaller } from '../http/request-audit';
import { checkResourceId } from '../domain/ids';
import { applyCors, deliveryContext, queryForOrigin } from './delivery-http';
import { DELIVERY_ROUTES, routeName } from './delivery-manifest';
import { tokenGrant } from './grant';
import { authorizeResource } from './key-delivery';
import { playbackKeyBase } from './token-routes';

/** What the playlist route needs: the token service, the access policy, our public URL and the origin. */
export interface PlaylistRouteDeps {
  tokens?: PlaybackTokenService;
  policy: AccessPolicy;
  publicUrl: string;
  /** Absent: the route answers 501 naming KEYPLANE_ORIGIN_URL. */
  origin?: OriginConfig;
  /** The playback-token cookie: sent alongside the path token it makes the request ambiguous (401). */
  tokenCookie?: string;
}

const MAX_PATH_LENGTH = 1024;
const HLS_TYPE = 'application/vnd.apple.mpegurl';
const BAD_SEGMENT = /^$|^\.\.?$|[/\\]/;

const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** Validates the path below the resource base: segments only, no `.`/`..`, no encoded `/` or `\`. */
export function checkPlaylistPath(value: unknown): string {
  const segments = Array.isArray(value) ? value : [value];
  if (!segments.every((s) => typeof s === 'string' && !BAD_SEGMENT.test(s))) {
    throw new BadRequestError(
      'path must be a relative path below the resource (no "..", "." or empty segments, no encoded / or \\)',
    );
  }
  if (segments.some((s) => hasControl(s as string))) {
    throw new BadRequestError('path must not contain control characters');
  }
  const path = (segments as string[]).map(encodeURIComponent).join('/');
  if (path.length > MAX_PATH_LENGTH) {
    throw new BadRequestError(`path must be at most ${MAX_PATH_LENGTH} characters (percent-encoded)`);
  }
  return path;
}

async function rewrittenPlaylist(
  target: URL,
  origin: OriginConfig,
  deps: PlaylistRouteDeps,
  token: string,
  resourceId: string,
) {
  const fetched = await fetchPlaylist(target, origin);
  try {
    const proxyBase = `${deps.publicUrl}/playback/${token}/hls/${encodeURIComponent(resourceId)}/`;
    return rewriteBounded(fetched.text, origin.maxBytes, proxyBase.length, (parsed) =>
      rewriteForPlayback(parsed, {
        playlistUrl: fetched.url,
        originBase: originBase(origin, resourceId),
        proxyBase,
        keyUrl: (kid) => `${playbackKeyBase(deps.publicUrl, token, resourceId)}/${kid}`,
      }),
    );
  } catch (err) {
    if (err instanceof PlaylistSyntaxError) throw invalidOriginPlaylist(err);
    if (err instanceof KeyUriError)
      throw new OriginError('Origin playlist cannot be tokenized: a key URI names no KID');
    throw err;
  }
}

/**
 * `GET /playback/{token}/hls/{resourceId}/{path}`: fetches the playlist from the resource's origin and
 * rewrites it for this player (see rewriteForPlayback). Non-playlist paths redirect to the origin.
 * Token rules as for key delivery: 401 malformed, 410 expired, 403 another resource or denied by policy.
 */
export function playlistRoutes(deps: PlaylistRouteDeps): Router {
  const router = Router(EXACT_ROUTING);
  const route = routeName(DELIVERY_ROUTES.playlist);
  router.get('/playback/:token/hls/:resourceId/*path', noStore, async (req, res) => {
    const resourceId = checkResourceId(req.params.resourceId);
    const path = checkPlaylistPath(req.params.path);
    if (!deps.origin) throw new NotConfiguredError('Playlist rewriting needs KEYPLANE_ORIGIN_URL');
    if (!deps.tokens) throw new NotConfiguredError('Playback tokens need KEYPLANE_TOKEN_SIGNING_KEYS with this store');
    const token = pathToken(req, req.params.token, deps.tokenCookie);
    const grant = tokenGrant(await deps.tokens.verify(token));
    noteVerifiedCaller(req, grant);
    const { cors } = await authorizeResource(deps.policy, deliveryContext(req, route, grant), resourceId);
    applyCors(res, cors);
    const query = queryForOrigin(req.originalUrl, deps.origin.credentialParams);
    const target = new URL(`${path}${query}`, originBase(deps.origin, resourceId));
    if (!path.toLowerCase().endsWith('.m3u8')) return res.redirect(302, target.href);
    const body = await rewrittenPlaylist(target, deps.origin, deps, token, resourceId);
    res.type(HLS_TYPE).send(body);
  });
  return router;
}
