import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { decodeJwt } from 'jose';
import type { AuditEvent, AuditLog } from '../audit/audit-log';
import type { RouteMatch, RouteTable } from '../domain/route-spec';
import { claimingTenant, DEFAULT_TENANT } from '../domain/tenants';
import { clientIp } from './client-info';
import { toKeyplaneError } from './error-handler';

declare module 'express-serve-static-core' {
  interface Request {
    /** The audit log, attached by `attachAudit` (absent in apps built without one). */
    audit?: AuditLog;
    /** The manifests' routes, attached with the audit log: names the route a request is after. */
    auditRoutes?: RouteTable;
  }
}

/** Middleware: makes the audit log and the manifests' route table reachable as `req.audit` / `req.auditRoutes`. */
export function attachAudit(audit: AuditLog, routes: RouteTable): RequestHandler {
  return (req, _res, next) => {
    req.audit = audit;
    req.auditRoutes = routes;
    next();
  };
}

/** The manifest route a request is after, with what its path says (works before routing, e.g. on a 401). */
export function auditTarget(req: Request): RouteMatch | undefined {
  return req.auditRoutes?.match(req.method, req.path);
}

/** Records the events a service returned (one store write) and notes that this request's refusal is audited. */
export async function recordEvents(req: Request, res: Response, events: readonly AuditEvent[]): Promise<void> {
  res.locals.auditRecorded = true;
  await req.audit?.record(events);
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
function callerOf(req: Request, target: RouteMatch | undefined, status: number): string | undefined {
  if (req.principal) return req.principal.id;
  if (target?.pathToken && status !== 400 && status !== 401) return tokenCaller(target.pathToken);
  if (target?.secureClient) return `secure-link:${target.secureClient}`;
  return undefined;
}

/**
 * The tenant a record falls under when the route did not say (it knows the resource's owner): the
 * caller's (`default` for `*` callers and for playback tokens from before tenants).
 */
function callerTenant(req: Request): string {
  return claimingTenant(req.principal?.tenant ?? DEFAULT_TENANT);
}

async function recordKeys(
  req: Request,
  resourceId: string,
  kids: readonly (string | undefined)[],
  status: number,
  tenant: string | undefined,
) {
  const target = auditTarget(req);
  const route = target?.route ?? `${req.method} ${String(req.route?.path ?? req.path)}`;
  const action = target?.audit === 'issue' ? 'issue' : 'deliver';
  const principal = callerOf(req, target, status);
  const ip = clientIp(req);
  await req.audit?.record(
    kids.map((kid) => ({
      action,
      route,
      resourceId,
      tenant: tenant ?? callerTenant(req),
      status,
      ...(kid === undefined ? {} : { kid }),
      ...(principal === undefined ? {} : { principal }),
      ...(ip === '' ? {} : { clientIp: ip }),
    })),
  );
}

/**
 * Records keys handed to a player, proxy or admin (one record per KID) under `tenant` (the resource
 * owner's; default: the caller's); await it before sending them.
 */
export function auditDelivered(
  req: Request,
  resourceId: string,
  kids: readonly string[],
  tenant?: string,
): Promise<void> {
  return recordKeys(req, resourceId, kids, 200, tenant);
}

/**
 * Records keys issued to an encoder or admin (one record per KID), with the status the response will
 * have, under `tenant` (the resource owner's; default: the caller's).
 */
export function auditIssued(
  req: Request,
  resourceId: string,
  kids: readonly string[],
  status = 200,
  tenant?: string,
): Promise<void> {
  return recordKeys(req, resourceId, kids, status, tenant);
}

/**
 * Error middleware (before the error handler) for refusals no service recorded: a delivery route
 * (per its manifest) refused before its service ran (401 from authentication, a bad or expired path
 * credential, a missing role) is recorded with the resource the path or the caller's playback token
 * names, then the error is passed on.
 */
export const auditRefusals: ErrorRequestHandler = (err, req, res, next) => {
  const target = req.audit && res.locals.auditRecorded !== true ? auditTarget(req) : undefined;
  // A Clear Key license names no resource in its path; a playback token's resource stands in for it.
  const resourceId = target?.resourceId ?? req.principal?.resourceId;
  if (!target || target.audit !== 'deliver' || resourceId === undefined) return next(err);
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
        tenant: callerTenant(req),
        status,
        reason,
        ...(target.kid === undefined ? {} : { kid: target.kid }),
        ...(principal === undefined ? {} : { principal }),
        ...(ip === '' ? {} : { clientIp: ip }),
      },
    ])
    .then(() => next(err));
};
