import type { AppDeps } from '../compose/app';
import type { RouteSpec } from '../domain/route-spec';
import type { FeatureManifest } from '../http/feature-manifest';

/** A route's audit name (re-exported so the route modules name their routes from this manifest). */
export { routeName } from '../domain/route-spec';

/** Every route of key delivery, as OpenAPI names it, with what its path says about the key it is after. */
export const DELIVERY_ROUTES = {
  key: {
    method: 'GET',
    path: '/keys/{resourceId}/{kid}',
    audit: 'deliver',
    params: { resourceId: 'resourceId', kid: 'kid' },
  },
  playbackKey: {
    method: 'GET',
    path: '/playback/{token}/keys/{resourceId}/{kid}',
    audit: 'deliver',
    params: { pathToken: 'token', resourceId: 'resourceId', kid: 'kid' },
  },
  secureKey: {
    method: 'GET',
    path: '/secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}',
    audit: 'deliver',
    params: { secureClient: 'clientId', resourceId: 'resourceId', kid: 'kid' },
  },
  // 'deliver' so its refusals (bad, revoked, expired token; wrong resource) are audited like the key routes'.
  playlist: {
    method: 'GET',
    path: '/playback/{token}/hls/{resourceId}/{path}',
    audit: 'deliver',
    params: { pathToken: 'token', resourceId: 'resourceId' },
    rest: true,
  },
  license: { method: 'POST', path: '/clearkey/license', audit: 'deliver' },
  licensePreflight: { method: 'OPTIONS', path: '/clearkey/license', audit: 'none' },
  tokens: { method: 'POST', path: '/playback-tokens', audit: 'grant' },
  revokeToken: { method: 'DELETE', path: '/playback-tokens/{jti}', audit: 'none' },
} as const satisfies Record<string, RouteSpec>;

const R = DELIVERY_ROUTES;

/** Key delivery's HTTP surface: the player routes, the playlist route, Clear Key, `/keys` and token issuance. */
export const DELIVERY_MANIFEST: FeatureManifest = {
  feature: 'delivery',
  mounts: [
    {
      name: 'playerDelivery',
      stage: 'public',
      segments: ['playback', 'secure'],
      enabled: (deps) => deps.delivery !== undefined,
      build: (deps) =>
        (require('./player-routes') as typeof import('./player-routes')).playerDeliveryRoutes({
          delivery: deps.keyDelivery,
          tokens: deps.delivery?.tokens,
          secureLinks: deps.delivery?.secureLinks,
          tokenCookie: deps.delivery?.tokenCookie,
        }),
      routes: [R.playbackKey, R.secureKey],
    },
    {
      name: 'playlists',
      stage: 'public',
      segments: ['playback'],
      enabled: (deps) => deps.playlists !== undefined,
      build: (deps) =>
        (require('./playlist-routes') as typeof import('./playlist-routes')).playlistRoutes(
          deps.playlists as NonNullable<AppDeps['playlists']>,
        ),
      routes: [R.playlist],
    },
    {
      name: 'clearKey',
      stage: 'public',
      segments: ['clearkey'],
      build: (deps) =>
        (require('./clearkey-routes') as typeof import('./clearkey-routes')).clearKeyRoutes({
          delivery: deps.keyDelivery,
          authenticators: deps.authenticators,
          corsOrigins: deps.corsOrigins ?? '*',
        }),
      routes: [R.license, R.licensePreflight],
    },
    {
      name: 'keys',
      stage: 'authenticated',
      segments: ['keys'],
      build: (deps) => (require('./key-routes') as typeof import('./key-routes')).keyRoutes(deps.keyDelivery),
      routes: [R.key],
    },
    {
      name: 'tokenIssuer',
      stage: 'authenticated',
      segments: ['playback-tokens'],
      enabled: (deps) => deps.delivery !== undefined,
      build: (deps) =>
        (require('./token-routes') as typeof import('./token-routes')).tokenIssuerRoutes({
          tokens: deps.delivery?.tokens,
          revocations: deps.delivery?.revocations,
          publicUrl: deps.delivery?.publicUrl ?? '',
          owners: deps.store.resources,
        }),
      routes: [R.tokens, R.revokeToken],
    },
  ],
};
