import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { decodeJwt } from 'jose';
import { clientIp } from '../auth/access-policy';
import { RESOURCE_ID_PATTERN, UUID_PATTERN } from '../domain/ids';
import { toKeyplaneError } from '../http/error-handler';
import type { AuditLog } from './audit-log';
import type { AuditAction } from './audit-record';

declare module 'express-serve-static-core' {
  interface Request {
    /** The audit log, attached by `attachAudit` (absent in apps built without one). */
    audit?: AuditLog;
  }
}

/** What a request path tells about the key it is after. */
interface Target {
  route: string;
  action: AuditAction;
  resourceId?: string;
  kid?: string;
  /** The playback token in the path (its `jti` names the caller once verified). */
  pathToken?: string;
  secureClient?: string;
}

type Matcher = (parts: string[]) => Omit<Target, 'route' | 'action'> | undefined;

const ROUTES: ReadonlyArray<{ method: string; route: string; action: AuditAction; pattern: RegExp; match: Matcher }> = [
  {
    method: 'GET',
    route: 'GET /keys/{resourceId}/{kid}',
    action: 'deliver',
    pattern: /^\/keys\/([^/]+)\/([^/]+)\/?$/,
    match: ([r, k]) => ({ resourceId: r, kid: k }),
  },
  {
    method: 'GET',
    route: 'GET /playback/{token}/keys/{resourceId}/{kid}',
    action: 'deliver',
    pattern: /^\/playback\/([^/]+)\/keys\/([^/]+)\/([^/]+)\/?$/,
    match: ([t, r, k]) => ({ pathToken: t, resourceId: r, kid: k }),
  },
  {
    method: 'GET',
    route: 'GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}',
    action: 'deliver',
    pattern: /^\/secure\/([^/_]+)_([^/]+)\/[^/]+\/[^/]+\/keys\/([^/]+)\/?$/,
    match: ([c, r, k]) => ({ secureClient: c, resourceId: r, kid: k }),
  },
  {
    method: 'GET',
    route: 'GET /static-keys/{resourceId}',
    action: 'deliver',
    pattern: /^\/static-keys\/([^/]+)\/?$/,
    match: ([r]) => ({ resourceId: r }),
  },
  { method: 'POST', route: 'POST /static-keys', action: 'issue', pattern: /^\/static-keys\/?$/, match: () => ({}) },
  {
    method: 'POST',
    route: 'POST /copyProtection',
    action: 'issue',
    pattern: /^\/copyProtection\/?$/,
    match: () => ({}),
  },
  {
    method: 'POST',
    route: 'POST /clearkey/license',
    action: 'deliver',
    pattern: /^\/clearkey\/license\/?$/,
    match: () => ({}),
  },
];

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}

/** Recognises the audited routes from the method and path (works before routing, e.g. on a 401). */
export function auditTarget(req: Request): Target | undefined {
  for (const r of ROUTES) {
    const m = req.method === r.method ? r.pattern.exec(req.path) : null;
    if (!m) continue;
    const found = r.match(m.slice(1).map(decode));
    if (!found) return undefined;
    const resourceId = found.resourceId && RESOURCE_ID_PATTERN.test(found.resourceId) ? found.resourceId : undefined;
    const kid = found.kid && UUID_PATTERN.test(found.kid) ? found.kid.toLowerCase() : undefined;
    return { ...found, route: r.route, action: r.action, resourceId, kid };
  }
  return undefined;
}

function tokenCaller(token: string): string | undefined {
  try {
    const jti = decodeJwt(token).jti;
    return typeof jti === 'string' ? `token:${jti}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who asked. A path token counts only when it was verified: its signature is checked before
 * anything but a 400 or 401 can happen, so other statuses (200, 403, 404, 410) name its `jti`.
 */
function callerOf(req: Request, target: Target | undefined, status: number): string | undefined {
  if (req.principal) return req.principal.id;
  if (target?.pathToken && status !== 400 && status !== 401) return tokenCaller(target.pathToken);
  if (target?.secureClient) return `secure-link:${target.secureClient}`;
  return undefined;
}

async function recordKeys(req: Request, resourceId: string, kids: readonly (string | undefined)[], status = 200) {
  const target = auditTarget(req);
  const route = target?.route ?? `${req.method} ${String(req.route?.path ?? req.path)}`;
  const action = target?.action ?? 'deliver';
  const principal = callerOf(req, target, status);
  const ip = clientIp(req);
  await req.audit?.record(
    kids.map((kid) => ({
      action,
      route,
      resourceId,
      status,
      ...(kid === undefined ? {} : { kid }),
      ...(principal === undefined ? {} : { principal }),
      ...(ip === '' ? {} : { clientIp: ip }),
    })),
  );
}

/** Middleware: makes the audit log reachable as `req.audit`. */
export function attachAudit(audit: AuditLog): RequestHandler {
  return (req, _res, next) => {
    req.audit = audit;
    next();
  };
}

/** Records keys handed to a player, proxy or admin (one record per KID); await it before sending them. */
export function auditDelivered(req: Request, resourceId: string, kids: readonly string[]): Promise<void> {
  return recordKeys(req, resourceId, kids);
}

/** Records keys issued to an encoder or admin (one record per KID), with the status the response will have. */
export function auditIssued(req: Request, resourceId: string, kids: readonly string[], status = 200): Promise<void> {
  return recordKeys(req, resourceId, kids, status);
}

/**
 * Error middleware (before the error handler): records a refused key delivery whose resource is known
 * from the path or the caller's playback token (401 from authentication included), then passes the error on.
 */
export const auditDenials: ErrorRequestHandler = (err, req, _res, next) => {
  const target = req.audit ? auditTarget(req) : undefined;
  // A Clear Key license names no resource in its path; a playback token's resource stands in for it.
  const resourceId = target?.resourceId ?? req.principal?.resourceId;
  if (!target || target.action !== 'deliver' || resourceId === undefined) return next(err);
  const known = toKeyplaneError(err);
  const status = known?.status ?? 500;
  const reason = (known?.details.reason as string | undefined) ?? known?.code ?? 'internal';
  const principal = callerOf(req, target, status);
  const ip = clientIp(req);
  void req.audit
    ?.record([
      {
        action: 'deliver',
        route: target.route,
        resourceId,
        status,
        reason,
        ...(target.kid === undefined ? {} : { kid: target.kid }),
        ...(principal === undefined ? {} : { principal }),
        ...(ip === '' ? {} : { clientIp: ip }),
      },
    ])
    .then(() => next(err));
};
