import crypto from 'node:crypto';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/audit-log';
import { attachAudit, auditDenials } from './audit/request-audit';
import type { ApiKeyService } from './auth/api-keys';
import { authenticate, type Authenticator } from './auth/authenticate';
import type { Delivery } from './delivery';
import type { CorsOrigins } from './http/cors';
import { errorHandler, notFoundHandler } from './http/error-handler';
import type { PlaylistRouteDeps } from './http/hls-routes';
import { lazyRouter } from './http/lazy-router';
import { verifySignedBody } from './http/signed-body';
import { spekeRoutes } from './http/speke-routes';
import type { KeyService } from './keys/key-service';
import type { StaticKeyService } from './keys/static-key-service';
import type { SpekeService } from './speke/speke-service';
import type { KeyStore } from './store/key-store';

/** Everything the HTTP app needs, injected so the standalone server, Lambda and tests share one app. */
export interface AppDeps {
  store: KeyStore;
  cipherName: string;
  keys: KeyService;
  staticKeys: StaticKeyService;
  apiKeys: ApiKeyService;
  speke: SpekeService;
  keyUrl: (resourceId: string, kid: string) => string;
  /** Tried in order; the first that recognises the caller wins. */
  authenticators: Authenticator[];
  logger: Logger;
  maxBodyBytes: number;
  /** Playback tokens, secure links, access policies, proxy trust (absent: /keys only, no policies). */
  delivery?: Delivery;
  /** The playlist-rewriting route's deps; absent when no origin is configured (`KEYPLANE_ORIGIN_URL`). */
  playlists?: PlaylistRouteDeps;
  /** Records key issuance and delivery (absent: nothing is audited and `GET /audit` is off). */
  audit?: AuditLog;
  /** Browser origins allowed to call `/clearkey/license` (default `*`). */
  corsOrigins?: CorsOrigins;
}

function requestId(): express.RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    res.set('X-Request-Id', incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : crypto.randomUUID());
    next();
  };
}

/** Logs each request at debug level; costs one level check per request when debug is off (the default). */
function accessLog(logger: Logger): express.RequestHandler {
  return (req, res, next) => {
    if (!logger.isLevelEnabled('debug')) return next();
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.debug(
        {
          requestId: res.getHeader('X-Request-Id'),
          method: req.method,
          route: req.route?.path,
          status: res.statusCode,
          ms,
        },
        'request',
      );
    });
    next();
  };
}

/**
 * The first path segment of every route of each router `createApp` builds lazily (see `lazyRouter`);
 * test/unit/http/lazy-routes.test.ts checks them against the routers' own routes.
 */
export const LAZY_ROUTE_SEGMENTS = {
  public: ['healthz', 'heartbeat', 'openapi.json'],
  playerDelivery: ['playback', 'secure'],
  playlists: ['playback'],
  clearKey: ['clearkey'],
  keys: ['keys'],
  tokenIssuer: ['playback-tokens'],
  policy: ['resources'],
  admin: ['static-keys', 'api-keys', 'leases'],
  audit: ['audit'],
} as const;

/** The routers no SPEKE request reaches before authentication, each required on its first request. */
function preAuthRoutes(deps: AppDeps): express.RequestHandler[] {
  const { delivery, playlists } = deps;
  const s = LAZY_ROUTE_SEGMENTS;
  const routers = [
    lazyRouter(s.public, () =>
      (require('./http/public-routes') as typeof import('./http/public-routes')).publicRoutes(
        deps.store,
        deps.cipherName,
      ),
    ),
  ];
  if (delivery) {
    routers.push(
      lazyRouter(s.playerDelivery, () =>
        (require('./http/playback-routes') as typeof import('./http/playback-routes')).playerDeliveryRoutes(delivery),
      ),
    );
  }
  if (playlists) {
    routers.push(
      lazyRouter(s.playlists, () =>
        (require('./http/hls-routes') as typeof import('./http/hls-routes')).playlistRoutes(playlists),
      ),
    );
  }
  const clearKeyDeps = { ...deps, corsOrigins: deps.corsOrigins ?? '*', policy: delivery?.policy };
  routers.push(
    lazyRouter(s.clearKey, () =>
      (require('./http/clearkey-routes') as typeof import('./http/clearkey-routes')).clearKeyRoutes(clearKeyDeps),
    ),
  );
  return routers;
}

/** The role-checked routers after SPEKE, each required on its first request. */
function postAuthRoutes(deps: AppDeps): express.RequestHandler[] {
  const { delivery, audit } = deps;
  const s = LAZY_ROUTE_SEGMENTS;
  const routers = [
    lazyRouter(s.keys, () =>
      (require('./http/key-routes') as typeof import('./http/key-routes')).keyRoutes(deps.keys, delivery?.policy),
    ),
  ];
  if (delivery) {
    routers.push(
      lazyRouter(s.tokenIssuer, () =>
        (require('./http/playback-routes') as typeof import('./http/playback-routes')).tokenIssuerRoutes(delivery),
      ),
      lazyRouter(s.policy, () =>
        (require('./http/policy-routes') as typeof import('./http/policy-routes')).policyRoutes(delivery.policyStore),
      ),
    );
  }
  routers.push(
    lazyRouter(s.admin, () =>
      (require('./http/admin-routes') as typeof import('./http/admin-routes')).adminRoutes(deps),
    ),
  );
  if (audit) {
    routers.push(
      lazyRouter(s.audit, () =>
        (require('./http/audit-routes') as typeof import('./http/audit-routes')).auditRoutes(audit),
      ),
    );
  }
  return routers;
}

/**
 * Builds the Express app: public routes, then authentication, then role-checked routes, then one error mapping.
 * Only the SPEKE router is built up front; the others, and the modules only they use, on their first request.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.delivery?.trustProxy ?? false);
  app.use(requestId());
  app.use(accessLog(deps.logger));
  if (deps.audit) app.use(attachAudit(deps.audit));
  app.use(preAuthRoutes(deps));
  app.use(authenticate(deps.authenticators));
  app.use(verifySignedBody(deps.maxBodyBytes));
  app.use(spekeRoutes(deps.speke, deps.maxBodyBytes));
  app.use(postAuthRoutes(deps));
  app.use(notFoundHandler);
  app.use(auditDenials);
  app.use(errorHandler(deps.logger));
  return app;
}
