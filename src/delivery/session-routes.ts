import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { AccessDeniedError } from '../auth/delivery-errors';
import { ownedBy } from '../auth/resource-scope';
import type { SessionClaims } from '../auth/session-ids';
import { checkResourceId } from '../domain/ids';
import { ALL_TENANTS, claimingTenant, DEFAULT_TENANT } from '../domain/tenants';
import { BadRequestError, NotFoundError } from '../errors';
import { encryptedLength, fetchSegment, segmentCipher, type ByteRange } from '../hls/origin-segment';
import { originBase } from '../hls/origin';
import { SESSION_PARAMS } from '../hls/session-rewrite';
import { EXACT_ROUTING } from '../http/exact-routing';
import { noteVerifiedCaller, recordEvents } from '../http/request-audit';
import { noStore } from '../http/respond';
import { applyCors, deliveryContext } from './delivery-http';
import { authorizeResource } from './key-delivery';
import { keyserverOrTokenGrant } from './key-routes';
import { checkPlaylistPath } from './playlist-routes';
import {
  HLS_TYPE,
  originQuery,
  sessionEvent,
  sessionIdsOf,
  sessionPlaylist,
  type SessionRouteDeps,
  sessionOriginOf,
} from './session-http';
import { SESSION_ROUTES } from './session-manifest';
import { routeName } from './delivery-manifest';

const isPlaylist = (path: string) => path.toLowerCase().endsWith('.m3u8');

/**
 * `GET /sessions/hls/{resourceId}/{path}` (after the app's authentication: playback token in any
 * transport the authenticators accept, or the keyserver role, exactly as `/keys`): checks the grant
 * covers the resource, the tenant owns it and the access policy allows the client, opens a session
 * and answers the origin playlist rewritten into it.
 */
export function sessionOpenRoutes(deps: SessionRouteDeps): Router {
  const router = Router(EXACT_ROUTING);
  const route = routeName(SESSION_ROUTES.open);
  router.get('/sessions/hls/:resourceId/*path', noStore, async (req, res) => {
    const grant = keyserverOrTokenGrant(req);
    const resourceId = checkResourceId(req.params.resourceId);
    const path = checkPlaylistPath(req.params.path);
    if (!isPlaylist(path)) throw new BadRequestError('A session opens on a playlist: path must end with .m3u8');
    const ids = sessionIdsOf(deps);
    const ctx = deliveryContext(req, route, grant);
    const [{ cors }, owner] = await Promise.all([
      authorizeResource(deps.policy, ctx, resourceId),
      grant.tenant === undefined ? undefined : ownedBy(deps.owners, resourceId, grant.tenant),
    ]);
    // The origin is the deployment's, shared by every tenant: a resource nobody owns is nobody's to stream
    // (as a playback token is minted only for a resource that exists), but for a deployment-wide caller.
    if (!owner && grant.tenant !== undefined && grant.tenant !== ALL_TENANTS) {
      throw new NotFoundError(
        `No resource "${resourceId}": create its keys (SPEKE or POST /static-keys) before opening sessions on it`,
      );
    }
    const tenant = owner?.tenant ?? claimingTenant(grant.tenant ?? DEFAULT_TENANT);
    const { id, claims } = ids.open({
      resourceId,
      tenant,
      ...(deps.bindClientIp ? { clientIp: ctx.client.ip } : {}),
    });
    // No query goes to the origin: the caller's (a `?token=`, an EdgeAuth token) is a credential for us.
    const body = await sessionPlaylist(deps, id, resourceId, path, '');
    await recordEvents(req, res, [sessionEvent(req, route, claims, grant.principal)]);
    applyCors(res, cors);
    res.type(HLS_TYPE).send(body);
  });
  return router;
}

/** A decimal integer below 2^64 from the query, or 400 naming the parameter. */
function bigParam(params: URLSearchParams, name: string): bigint | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,20}$/.test(raw) || BigInt(raw) >= 2n ** 64n) throw new BadRequestError(`${name} must be a whole number`);
  return BigInt(raw);
}

/** What a segment URI of the session says: init section or media sequence number, and byte range. */
function segmentParams(req: Request, maxBytes: number): { seq?: bigint; range?: ByteRange } {
  const at = req.originalUrl.indexOf('?');
  const params = new URLSearchParams(at < 0 ? '' : req.originalUrl.slice(at + 1));
  const init = params.get(SESSION_PARAMS.init) === '1';
  const seq = bigParam(params, SESSION_PARAMS.seq);
  const offset = bigParam(params, SESSION_PARAMS.offset);
  const length = bigParam(params, SESSION_PARAMS.length);
  if (init === (seq !== undefined))
    throw new BadRequestError(`a segment URI needs ${SESSION_PARAMS.seq} (or ${SESSION_PARAMS.init}=1)`);
  if ((offset === undefined) !== (length === undefined)) {
    throw new BadRequestError(`${SESSION_PARAMS.offset} and ${SESSION_PARAMS.length} go together`);
  }
  if (length !== undefined && (length < 1n || length > BigInt(maxBytes))) {
    throw new BadRequestError(`${SESSION_PARAMS.length} must be from 1 to ${maxBytes}`);
  }
  const range = offset !== undefined && length !== undefined ? { offset, length } : undefined;
  return { ...(seq === undefined ? {} : { seq }), ...(range ? { range } : {}) };
}

/** Verifies the path's session for this client and applies the resource's access policy (CORS too). */
async function openSession(
  deps: SessionRouteDeps,
  req: Request,
  res: Response,
  route: string,
): Promise<{ id: string; claims: SessionClaims }> {
  const id = String(req.params.sessionId);
  const ctx = deliveryContext(req, route, {});
  const claims = sessionIdsOf(deps).verify(id, ctx.client.ip);
  // A refusal from here on (the access policy) names the verified session, as its deliveries do.
  noteVerifiedCaller(req, { principal: `session:${claims.nonce}`, tenant: claims.tenant });
  const { cors } = await authorizeResource(deps.policy, ctx, claims.resourceId);
  applyCors(res, cors);
  return { id, claims };
}

/**
 * Fetches the segment (headers only), records it served, then streams it: AES-128-CBC under the
 * session key with the media sequence number as IV, or as is for an init section.
 */
async function sendSegment(
  deps: SessionRouteDeps,
  req: Request,
  res: Response,
  target: URL,
  served: () => Promise<void>,
  key: Buffer,
) {
  const { seq, range } = segmentParams(req, deps.segmentMaxBytes);
  const segment = await fetchSegment(target, range, {
    headersTimeoutMs: sessionOriginOf(deps).timeoutMs,
    timeoutMs: deps.segmentTimeoutMs,
    maxBytes: deps.segmentMaxBytes,
  });
  try {
    await served();
  } catch (err) {
    segment.body.destroy();
    throw err;
  }
  const plainLength = range ? Number(range.length) : segment.length;
  const headers: Record<string, string | number> = {
    'Content-Type': segment.contentType ?? 'application/octet-stream',
    'Cache-Control': 'no-store',
  };
  if (plainLength !== undefined)
    headers['Content-Length'] = seq === undefined ? plainLength : encryptedLength(plainLength);
  res.writeHead(200, headers);
  // Headers are gone: a failure now (origin cut, timeout, oversize) can only cut the response short.
  const done = seq === undefined ? pipeline(segment.body, res) : pipeline(segment.body, segmentCipher(key, seq), res);
  await done.catch(() => res.destroy());
}

/**
 * The session's own routes, authorized by the session id alone (a MAC-protected capability):
 * `GET /sessions/{sessionId}/key` (the 16-byte key, `no-store`, 410 once expired) and
 * `GET /sessions/{sessionId}/hls/{resourceId}/{path}` (playlists rewritten into the same session,
 * so live refreshes keep the key; segments fetched from the origin and AES-128-CBC encrypted on the
 * way out, streamed). Each is audited: the key delivery and every segment served.
 */
export function sessionRoutes(deps: SessionRouteDeps): Router {
  const router = Router(EXACT_ROUTING);
  const keyRoute = routeName(SESSION_ROUTES.key);
  const hlsRoute = routeName(SESSION_ROUTES.hls);
  router.get('/sessions/:sessionId/key', async (req, res) => {
    const { id, claims } = await openSession(deps, req, res, keyRoute);
    const key = sessionIdsOf(deps).key(id);
    await recordEvents(req, res, [sessionEvent(req, keyRoute, claims)]);
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Content-Length': 16,
    });
    res.end(key);
  });
  router.get('/sessions/:sessionId/hls/:resourceId/*path', noStore, async (req, res, next) => {
    if (req.params.sessionId === 'hls') return next('route');
    const resourceId = checkResourceId(req.params.resourceId);
    const path = checkPlaylistPath(req.params.path);
    const { id, claims } = await openSession(deps, req, res, hlsRoute);
    if (claims.resourceId !== resourceId) {
      throw new AccessDeniedError('token_resource_mismatch', 'Session was opened for a different resource');
    }
    if (isPlaylist(path)) {
      const body = await sessionPlaylist(deps, id, resourceId, path, originQuery(req, sessionOriginOf(deps)));
      return void res.type(HLS_TYPE).send(body);
    }
    const target = new URL(
      `${path}${originQuery(req, sessionOriginOf(deps))}`,
      originBase(sessionOriginOf(deps), resourceId),
    );
    const served = () => recordEvents(req, res, [sessionEvent(req, hlsRoute, claims)]);
    await sendSegment(deps, req, res, target, served, sessionIdsOf(deps).key(id));
  });
  return router;
}
