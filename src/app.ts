import crypto from 'node:crypto';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/audit-log';
import { attachAudit, auditDenials } from './audit/request-audit';
import type { ApiKeyService } from './auth/api-keys';
import { authenticate, type Authenticator } from './auth/authenticate';
import type { Delivery } from './delivery';
import { adminRoutes } from './http/admin-routes';
import { auditRoutes } from './http/audit-routes';
import { clearKeyRoutes } from './http/clearkey-routes';
import type { CorsOrigins } from './http/cors';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { playlistRoutes, type PlaylistRouteDeps } from './http/hls-routes';
import { keyRoutes } from './http/key-routes';
import { playerDeliveryRoutes, tokenIssuerRoutes } from './http/playback-routes';
import { policyRoutes } from './http/policy-routes';
import { publicRoutes } from './http/public-routes';
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

/** Builds the Express app: public routes, then authentication, then role-checked routes, then one error mapping. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.delivery?.trustProxy ?? false);
  app.use(requestId());
  app.use(accessLog(deps.logger));
  if (deps.audit) app.use(attachAudit(deps.audit));
  app.use(publicRoutes(deps.store, deps.cipherName));
  if (deps.delivery) app.use(playerDeliveryRoutes(deps.delivery));
  if (deps.playlists) app.use(playlistRoutes(deps.playlists));
  app.use(clearKeyRoutes({ ...deps, corsOrigins: deps.corsOrigins ?? '*', policy: deps.delivery?.policy }));
  app.use(authenticate(deps.authenticators));
  app.use(spekeRoutes(deps.speke, deps.maxBodyBytes));
  app.use(keyRoutes(deps.keys, deps.delivery?.policy));
  if (deps.delivery) app.use(tokenIssuerRoutes(deps.delivery), policyRoutes(deps.delivery.policyStore));
  app.use(adminRoutes(deps));
  if (deps.audit) app.use(auditRoutes(deps.audit));
  app.use(notFoundHandler);
  app.use(auditDenials);
  app.use(errorHandler(deps.logger));
  return app;
}
