import crypto from 'node:crypto';
import type { ArchiveDeps } from '../http/archive-routes';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log';
import type { ApiKeyService } from '../auth/api-keys';
import { authenticate, type HttpAuthenticator } from '../http/authenticate';
import type { Delivery } from './delivery';
import type { CorsOrigins } from '../delivery/cors';
import type { KeyDelivery } from '../delivery/key-delivery';
import type { PlaylistRouteDeps } from '../delivery/playlist-routes';
import type { SessionRouteDeps } from '../delivery/session-http';
import { abuseLimits, type AbuseLimits } from '../http/abuse-limits';
import type { RateChannel } from '../http/shared-rate-limit';
import { errorHandler, notFoundHandler } from '../http/error-handler';
import { routeTableOf, type MountSpec } from '../http/feature-manifest';
import { lazyRouter } from '../http/lazy-router';
import { FEATURE_MANIFESTS } from '../http/manifests';
import { RefusalSampler } from '../http/refusal-sampler';
import { attachAudit, auditRefusals } from '../http/request-audit';
import { verifySignedBody } from '../http/signed-body';
import type { KeyService } from '../keys/key-service';
import type { StaticKeyService } from '../keys/static-key-service';
import type { CpixExportService } from '../speke/cpix-export';
import type { SpekeService } from '../speke/speke-service';
import type { WidevineCencService } from '../widevine/cenc-service';
import type { Backend } from '../store/backend';

/** Everything the HTTP app needs, injected so the standalone server, Lambda and tests share one app. */
export interface AppDeps {
  store: Backend;
  cipherName: string;
  keys: KeyService;
  staticKeys: StaticKeyService;
  apiKeys: ApiKeyService;
  speke: SpekeService;
  /** The one key delivery service every key-handing route (`/keys`, `/playback`, `/secure`, Clear Key) uses. */
  keyDelivery: KeyDelivery;
  keyUrl: (resourceId: string, kid: string) => string;
  /** Tried in order; the first that recognises the caller wins. */
  authenticators: HttpAuthenticator[];
  logger: Logger;
  maxBodyBytes: number;
  /** Playback tokens, secure links, access policies, proxy trust (absent: /keys only, no policies). */
  delivery?: Delivery;
  /** The playlist-rewriting route's deps; absent when no origin is configured (`KEYPLANE_ORIGIN_URL`). */
  playlists?: PlaylistRouteDeps;
  /** Session-level HLS encryption's deps; absent when no origin is configured (`KEYPLANE_ORIGIN_URL`). */
  sessions?: SessionRouteDeps;
  /** Records key issuance and delivery (absent: nothing is audited and `GET /audit` is off). */
  audit?: AuditLog;
  /** Browser origins allowed to call `/clearkey/license` (default `*`). */
  corsOrigins?: CorsOrigins;
  /** CPIX by GET (`GET /cpix/{resourceId}`); absent: the route is off. */
  cpixExport?: CpixExportService;
  /** Rate limits against brute force and floods (absent: none). */
  abuseLimits?: AbuseLimits;
  /** Set in a worker of `serve --workers N`: its rate limits are counted with the other workers'. */
  rateChannel?: RateChannel;
  /** Export and import of keys as CPIX (absent: the store has no bulk transfer; the routes are off). */
  archive?: ArchiveDeps;
  /** The Widevine Common Encryption API (`POST /widevine/cenc`); absent when no signer is configured. */
  widevine?: WidevineCencService;
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

/** The routers of one stage, in manifest order: SPEKE's built now, the others on their first request. */
function stageRouters(deps: AppDeps, stage: MountSpec['stage']): RequestHandler[] {
  return FEATURE_MANIFESTS.flatMap((manifest) => manifest.mounts)
    .filter((mount) => mount.stage === stage && (mount.enabled?.(deps) ?? true))
    .map((mount) => (mount.eager ? mount.build(deps) : lazyRouter(mount.segments, () => mount.build(deps))));
}

/**
 * Builds the Express app from the feature manifests (src/http/manifests.ts): public routes, then
 * authentication, then role-checked routes, then one error mapping. Only the SPEKE router is built up
 * front; the others, and the modules only they use, on their first request.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Exact paths only (and in every Router: EXACT_ROUTING): no spelling escapes the audit or a policy.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.set('trust proxy', deps.delivery?.trustProxy ?? false);
  const abuse = deps.abuseLimits && abuseLimits(deps.abuseLimits, Date.now, deps.rateChannel);
  app.use(requestId());
  app.use(accessLog(deps.logger));
  if (deps.audit) {
    const sampler = new RefusalSampler((w) =>
      deps.logger.info(
        { window: w.start.toISOString(), recorded: w.recorded, suppressed: w.suppressed },
        'audit refusals sampled',
      ),
    );
    app.use(attachAudit(deps.audit, routeTableOf(FEATURE_MANIFESTS), sampler, deps.store.resources));
  }
  // After attachAudit, so a 429 on a delivery route is audited like any refusal.
  if (abuse) app.use(abuse.beforeAuth);
  app.use(stageRouters(deps, 'public'));
  app.use(authenticate(deps.authenticators));
  if (abuse) app.use(abuse.afterAuth);
  app.use(verifySignedBody(deps.maxBodyBytes));
  app.use(stageRouters(deps, 'authenticated'));
  app.use(notFoundHandler);
  if (abuse) app.use(abuse.noteRefusal);
  app.use(auditRefusals);
  app.use(errorHandler(deps.logger));
  return app;
}
