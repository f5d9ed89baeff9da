import type { Request, RequestHandler, Response, Router } from 'express';
import { LAZY_ROUTE_SEGMENTS } from '../../../src/app';
import { adminRoutes } from '../../../src/http/admin-routes';
import { auditRoutes } from '../../../src/http/audit-routes';
import { clearKeyRoutes } from '../../../src/http/clearkey-routes';
import { playlistRoutes } from '../../../src/http/hls-routes';
import { keyRoutes } from '../../../src/http/key-routes';
import { lazyRouter } from '../../../src/http/lazy-router';
import { playerDeliveryRoutes, tokenIssuerRoutes } from '../../../src/http/playback-routes';
import { policyRoutes } from '../../../src/http/policy-routes';
import { publicRoutes } from '../../../src/http/public-routes';

// createApp builds these routers lazily, on the first request whose first path segment is listed in
// LAZY_ROUTE_SEGMENTS; a route whose segment is missing there would never be reached.

/** Dependencies that are never called: building a router only wires them into handlers. */
const unused = new Proxy({} as Record<string, unknown>, {
  get: (_target, prop) => (prop === 'then' ? undefined : prop === 'authenticators' ? [] : () => undefined),
}) as never;

const ROUTERS: Record<keyof typeof LAZY_ROUTE_SEGMENTS, () => Router> = {
  public: () => publicRoutes(unused, 'local'),
  playerDelivery: () => playerDeliveryRoutes(unused),
  playlists: () => playlistRoutes(unused),
  clearKey: () => clearKeyRoutes(unused),
  keys: () => keyRoutes(unused),
  tokenIssuer: () => tokenIssuerRoutes(unused),
  policy: () => policyRoutes(unused),
  admin: () => adminRoutes(unused),
  audit: () => auditRoutes(unused),
};

/** The first path segment of each route of a router, as written in its route paths. */
function firstSegments(router: Router): string[] {
  const paths = router.stack.map((layer) => (layer.route as { path?: unknown } | undefined)?.path);
  expect(paths.every((p) => typeof p === 'string')).toBe(true);
  return [...new Set((paths as string[]).map((p) => p.split('/')[1] ?? ''))].sort();
}

describe('lazily built routers', () => {
  it.each(Object.keys(ROUTERS) as (keyof typeof LAZY_ROUTE_SEGMENTS)[])(
    '%s: LAZY_ROUTE_SEGMENTS lists exactly the first segments of its routes',
    (name) => {
      expect(firstSegments(ROUTERS[name]())).toEqual([...LAZY_ROUTE_SEGMENTS[name]].sort());
    },
  );
});

describe('lazyRouter', () => {
  const request = (path: string) => ({ path }) as Request;
  const res = {} as Response;

  it('builds the router on the first request to one of its segments (any case), once, and passes others by', () => {
    const router = jest.fn<void, Parameters<RequestHandler>>();
    const build = jest.fn(() => router as RequestHandler);
    const handler = lazyRouter(['static-keys', 'leases'], build);
    const next = jest.fn();
    handler(request('/copyProtection'), res, next);
    handler(request('/static-keysx'), res, next);
    handler(request('/'), res, next);
    expect(build).not.toHaveBeenCalled();
    expect(next).toHaveBeenCalledTimes(3);
    handler(request('/static-keys'), res, next);
    handler(request('/Leases/abc'), res, next);
    expect(build).toHaveBeenCalledTimes(1);
    expect(router).toHaveBeenCalledTimes(2);
    expect(next).toHaveBeenCalledTimes(3);
  });
});
