import type { AppDeps } from '../compose/app';
import type { RouteSpec } from '../domain/route-spec';
import type { FeatureManifest } from '../http/feature-manifest';

/** Every route of session-level HLS encryption, as OpenAPI names it. */
export const SESSION_ROUTES = {
  // 'deliver': opening a session, its key and its segments are deliveries (audited, refusals too).
  open: {
    method: 'GET',
    path: '/sessions/hls/{resourceId}/{path}',
    audit: 'deliver',
    params: { resourceId: 'resourceId' },
    rest: true,
  },
  key: { method: 'GET', path: '/sessions/{sessionId}/key', audit: 'deliver' },
  hls: {
    method: 'GET',
    path: '/sessions/{sessionId}/hls/{resourceId}/{path}',
    audit: 'deliver',
    params: { resourceId: 'resourceId' },
    rest: true,
  },
} as const satisfies Record<string, RouteSpec>;

const R = SESSION_ROUTES;

const sessionDeps = (deps: AppDeps) => deps.sessions as NonNullable<AppDeps['sessions']>;

/**
 * Session-level encryption's HTTP surface: the session's own routes (public: the session id is the
 * credential) and the entry that opens a session (after the app's authentication, as `/keys`).
 */
export const SESSIONS_MANIFEST: FeatureManifest = {
  feature: 'sessions',
  mounts: [
    {
      name: 'sessionOpen',
      stage: 'authenticated',
      segments: ['sessions'],
      enabled: (deps) => deps.sessions !== undefined,
      build: (deps) =>
        (require('./session-routes') as typeof import('./session-routes')).sessionOpenRoutes(sessionDeps(deps)),
      routes: [R.open],
    },
    {
      name: 'sessionDelivery',
      stage: 'public',
      segments: ['sessions'],
      enabled: (deps) => deps.sessions !== undefined,
      build: (deps) =>
        (require('./session-routes') as typeof import('./session-routes')).sessionRoutes(sessionDeps(deps)),
      routes: [R.key, R.hls],
    },
  ],
};
