import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { decodeJwt } from 'jose';
import type { AuditEvent, AuditLog } from '../audit/audit-log';
import type { RouteMatch, RouteTable } from '../domain/route-spec';
import { refusedTokenJti } from '../auth/token-errors';
import { clientIp } from './client-info';
import { RefusalSampler } from './refusal-sampler';
import { toKeyplaneError } from './error-handler';

declare module 'express-serve-static-core' {
  interface Request {
    /** The audit log, attached by `attachAudit` (absent in apps built without one). */
    audit?: AuditLog;
    /** The manifests' routes, attached with the audit log: names the route a request is after. */
    auditRoutes?: RouteTable;
    /** Samples refusals without a principal (see RefusalSampler), attached with the audit log. */
    auditSampler?: RefusalSampler;
  }
}

/** Middleware: makes the audit log and the manifests' route table reachable as `req.audit` / `req.auditRoutes`. */
export function attachAudit(audit: AuditLog, routes: RouteTable, sampler = new RefusalSampler()): RequestHandler {
  return (req, _res, next) => {
    req.audit = audit;
    req.auditRoutes = routes;
    req.auditSampler = sampler;
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
function callerOf(req: Request, target: RouteMatch | undefined, status: number, err?: unknown): string | undefined {
  if (req.principal) return req.principal.id;
  // A revoked or expired token verified before it was refused: its jti names the caller.
  const refused = refusedTokenJti(err);
  if (refused !== undefined) return `token:${refused}`;
  if (target?.pathToken && status !== 400 && status !== 401) return tokenCaller(target.pathToken);
  if (target?.secureClient) return `secure-link:${target.secureClient}`;
  return undefined;
}

async function recordKeys(req: Request, resourceId: string, kids: readonly (string | undefined)[], status = 200) {
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
      status,
      ...(kid === undefined ? {} : { kid }),
      ...(principal === undefined ? {} : { principal }),
      ...(ip === '' ? {} : { clientIp: ip }),
    })),
  );
}

/** Records keys handed to a player, proxy or admin (one record per KID); await it before sending them. */
export function auditDelivered(req: Request, resourceId: string, kids: readonly string[]): Promise<void> {
  return recordKeys(req, resourceId, kids);
}

/** Records keys issued to an encoder or admin (one record per KID), with the status the response will have. */
export function auditIssued(req: Request, resourceId: string, kids: readonly string[], status = 200): Promise<void> {
  return recordKeys(req, resourceId, kids, status);
}

/** Resource ID of a refusal whose path names none (Clear Key without a token, an invalid ID): `-`. */
export const UNKNOWN_RESOURCE = '-';

/**
 * Error middleware (before the error handler) for refusals no service recorded: every refusal on a
 * delivery route (per its manifest) before or outside its service (401 from authentication, 429, a bad
 * or expired path credential, a missing role, a bad ID) is recorded with the resource the path or the
 * caller's playback token names (`-` when none is known) and the principal when one is known, then the
 * error is passed on. Refusals without a principal (401, 429) are sampled (RefusalSampler) so a flood
 * cannot grow the trail without bound; every other refusal is recorded one by one.
 */
export const auditRefusals: ErrorRequestHandler = (err, req, res, next) => {
  const target = req.audit && res.locals.auditRecorded !== true ? auditTarget(req) : undefined;
  if (!target || target.audit !== 'deliver') return next(err);
  // A Clear Key license names no resource in its path; a playback token's resource stands in for it.
  const resourceId = target.resourceId ?? req.principal?.resourceId ?? UNKNOWN_RESOURCE;
  const known = toKeyplaneError(err);
  const status = known?.status ?? 500;
  const reason = (known?.details.reason as string | undefined) ?? known?.code ?? 'internal';
  const principal = callerOf(req, target, status, err);
  const ip = clientIp(req);
  if (principal === undefined && (status === 401 || status === 429)) {
    if (req.auditSampler && !req.auditSampler.admit(target.route, ip, reason)) return next(err);
  }
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
