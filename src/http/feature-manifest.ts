import type { Router } from 'express';
import type { AppDeps } from '../compose/app';
import { RouteTable, type RouteSpec } from '../domain/route-spec';

/**
 * One router of a feature: where `createApp` mounts it, on which first path segments, when, how it is
 * built, and its routes. `build` holds the literal `require()` of the router's module, so the module
 * is loaded on the first request that needs it (esbuild still sees and bundles it).
 */
export interface MountSpec {
  /** Names the router in tests and logs, e.g. `keys`. */
  name: string;
  /** `public`: before authentication (the route authenticates itself, or needs no credential). */
  stage: 'public' | 'authenticated';
  /** Built when the app is created instead of on first use (the SPEKE router: the Lambda's hot path). */
  eager?: boolean;
  /** The first path segment of each of its routes (lazy mounting hands it only these requests). */
  segments: readonly string[];
  /** When it is mounted at all (default: always). */
  enabled?: (deps: AppDeps) => boolean;
  build: (deps: AppDeps) => Router;
  routes: readonly RouteSpec[];
}

/** What a feature module declares about its HTTP surface: every router it mounts. */
export interface FeatureManifest {
  feature: string;
  mounts: readonly MountSpec[];
}

/** Every route of the manifests (enabled or not: the audit and OpenAPI know them all). */
export function routesOf(manifests: readonly FeatureManifest[]): RouteSpec[] {
  return manifests.flatMap((m) => m.mounts.flatMap((mount) => mount.routes));
}

/** The route table the audit uses to recognise a request's route before (or without) routing. */
export function routeTableOf(manifests: readonly FeatureManifest[]): RouteTable {
  return new RouteTable(routesOf(manifests));
}
