import type { Request, RequestHandler, Response, Router } from 'express';
import type { MountSpec } from '../../../src/http/feature-manifest';
import { lazyRouter } from '../../../src/http/lazy-router';
import { FEATURE_MANIFESTS } from '../../../src/http/manifests';

// createApp builds these routers lazily, on the first request whose first path segment is listed in
// the mount's manifest `segments`; a route whose segment is missing there would never be reached.

/** Dependencies that are never called: building a router only wires them into handlers. */
const unused = new Proxy({} as Record<string, unknown>, {
  get: (_target, prop) =>
    prop === 'then' ? undefined : prop === 'authenticators' ? [] : prop === 'maxBodyBytes' ? 1024 : () => undefined,
}) as never;

const MOUNTS: MountSpec[] = FEATURE_MANIFESTS.flatMap((m) => m.mounts);

/** The first path segment of each route of a router, as written in its route paths. */
function firstSegments(router: Router): string[] {
  // Plain middleware (no route, e.g. SPEKE's 405 for other methods) reaches nothing a segment must cover.
  const paths = router.stack
    .filter((layer) => layer.route !== undefined || layer.name !== 'refuseOtherMethods')
    .map((layer) => (layer.route as { path?: unknown } | undefined)?.path);
  expect(paths.every((p) => typeof p === 'string')).toBe(true);
  return [...new Set((paths as string[]).map((p) => p.split('/')[1] ?? ''))].sort();
}

/** `METHOD /path` with every parameter (Express `:x` / `*x`, OpenAPI `{x}` or `{a}_{b}`) written `{}`. */
const shape = (method: string, path: string) =>
  `${method.toUpperCase()} ${path.replace(/\{[^}]+\}(?:_\{[^}]+\})*|[:*]\w+/g, '{}')}`;

/** The routes a router really registers, as shapes. */
function routerRoutes(router: Router): string[] {
  return router.stack
    .flatMap((layer) => {
      const route = layer.route as { path: string; methods: Record<string, boolean> } | undefined;
      return route ? Object.keys(route.methods).map((m) => shape(m, route.path)) : [];
    })
    .sort();
}

describe('lazily built routers', () => {
  it.each(MOUNTS.map((m) => [m.name, m] as const))(
    '%s: the manifest segments are exactly the first segments of its routes',
    (_name, mount) => {
      expect(firstSegments(mount.build(unused))).toEqual([...mount.segments].sort());
      const declared = [...new Set(mount.routes.map((r) => r.path.split('/')[1] ?? ''))].sort();
      expect(declared).toEqual([...mount.segments].sort());
    },
  );

  it.each(MOUNTS.map((m) => [m.name, m] as const))(
    '%s: the router registers exactly its manifest routes',
    (_n, mount) => {
      expect(routerRoutes(mount.build(unused))).toEqual(mount.routes.map((r) => shape(r.method, r.path)).sort());
    },
  );
});

describe('lazyRouter', () => {
  const request = (path: string) => ({ path }) as Request;
  const res = {} as Response;

  it('builds the router on the first request to one of its segments (exact case), once, and passes others by', () => {
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
    handler(request('/leases/abc'), res, next);
    handler(request('/Leases/abc'), res, next);
    expect(build).toHaveBeenCalledTimes(1);
    expect(router).toHaveBeenCalledTimes(2);
    expect(next).toHaveBeenCalledTimes(4);
  });
});
