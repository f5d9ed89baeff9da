import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { AuditEvent, AuditLog } from '../audit/audit-log';
import type { RouteMatch, RouteTable } from '../domain/route-spec';
import { isChangeAction, type ChangeAction } from '../audit/audit-record';
import { refusedTokenJti } from '../auth/token-errors';
import type { OwnerReader } from '../auth/resource-scope';
import { ALL_TENANTS, claimingTenant, DEFAULT_TENANT } from '../domain/tenants';
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
    /** Resource owners, attached with the audit log: the tenant a record falls under. */
    auditOwners?: OwnerReader;
    /** A credential in the path (playback token, secure link), once its route verified it (see noteVerifiedCaller). */
    verifiedCaller?: { principal: string; tenant?: string };
  }
}

/**
 * Notes who a route verified from its path (a playback token, a secure link), so a later refusal names
 * them. Nothing unverified names a caller: a forged token's `jti` and `ten`, or any secure-link client
 * id, would let anyone plant records under any principal, in any tenant's trail, past the sampler.
 */
export function noteVerifiedCaller(req: Request, grant: { principal?: string; tenant?: string }): void {
  if (grant.principal !== undefined) {
    req.verifiedCaller = {
      principal: grant.principal,
      ...(grant.tenant === undefined ? {} : { tenant: grant.tenant }),
    };
  }
}

/**
 * Middleware: makes the audit log, the manifests' route table, the refusal sampler and the resource
 * owners reachable as `req.audit` / `req.auditRoutes` / `req.auditSampler` / `req.auditOwners`.
 */
export function attachAudit(
  audit: AuditLog,
  routes: RouteTable,
  sampler = new RefusalSampler(),
  owners?: OwnerReader,
): RequestHandler {
  return (req, _res, next) => {
    req.audit = audit;
    req.auditRoutes = routes;
    req.auditSampler = sampler;
    req.auditOwners = owners;
    next();
  };
}

/** The manifest route a request is after, with what its path says (works before routing, e.g. on a 401). */
function auditTarget(req: Request): RouteMatch | undefined {
  return req.auditRoutes?.match(req.method, req.path);
}

/** Records the events a service returned (one store write) and notes that this request's refusal is audited. */
export async function recordEvents(req: Request, res: Response, events: readonly AuditEvent[]): Promise<void> {
  res.locals.auditRecorded = true;
  await req.audit?.record(events);
}

/**
 * Who asked: the authenticated principal; a revoked or expired token whose signature was checked before
 * it was refused; or a path credential its route verified. Never what an unverified path claims.
 */
function callerOf(req: Request, err?: unknown): string | undefined {
  if (req.principal) return req.principal.id;
  const refused = refusedTokenJti(err);
  if (refused !== undefined) return `token:${refused}`;
  return req.verifiedCaller?.principal;
}

/**
 * The tenant of the caller, for records: its own (`default` for `*` callers and for playback tokens
 * from before tenants); a verified path token's `ten` when no principal was set.
 */
function callerTenant(req: Request): string {
  return claimingTenant(req.principal?.tenant ?? req.verifiedCaller?.tenant ?? DEFAULT_TENANT);
}

/**
 * The tenant a record about `resourceId` falls under: its owner's (one read), else `fallback`. Only
 * used where the caller's tenant may differ from the owner's (`*` callers, refusals); a failed read
 * never loses the record.
 */
async function ownerTenant(req: Request, resourceId: string, fallback: string): Promise<string> {
  try {
    return (await req.auditOwners?.get(resourceId))?.tenant ?? fallback;
  } catch {
    return fallback;
  }
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
  const principal = callerOf(req);
  const ip = clientIp(req);
  const recordTenant =
    tenant ??
    (req.principal?.tenant === ALL_TENANTS ? await ownerTenant(req, resourceId, DEFAULT_TENANT) : callerTenant(req));
  await req.audit?.record(
    kids.map((kid) => ({
      action,
      route,
      resourceId,
      tenant: recordTenant,
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

/** Resource ID of a refusal whose path names none (Clear Key without a token, an invalid ID): `-`. */
const UNKNOWN_RESOURCE = '-';

/** The audit resource of an API key: `apikey:<id>`, as its principal reads. */
export function apiKeyResource(id: string): string {
  return `apikey:${id.slice(0, 64)}`;
}

/**
 * Records an admin change this request made (`grant`, `revoke`, `release`, `configure`, as its manifest
 * route says) on `resource` (a resource ID, or `apikey:<id>`), under `tenant`, the tenant whose resource
 * or API key it was (`*` for a key of every tenant: no tenant's admin sees that record). Await it before
 * answering, as with keys.
 */
export async function auditChange(
  req: Request,
  action: ChangeAction,
  resource: string,
  status: number,
  tenant: string,
): Promise<void> {
  if (!req.audit) return;
  const target = auditTarget(req);
  const principal = callerOf(req);
  const ip = clientIp(req);
  await req.audit.record([
    {
      action,
      route: target?.route ?? `${req.method} ${req.path}`,
      resourceId: resource,
      tenant,
      status,
      ...(principal === undefined ? {} : { principal }),
      ...(ip === '' ? {} : { clientIp: ip }),
    },
  ]);
}

/**
 * Error middleware (before the error handler) for refusals no service recorded: every refusal on a
 * delivery route or an admin change route (per its manifest) before or outside its service (401 from
 * authentication, 429, a bad or expired path credential, a missing role, another tenant's resource, a
 * bad ID) is recorded with the resource the path or the caller's playback token names (`-` when none is
 * known) and the principal when one was verified, then the error is passed on. Refusals without one (401,
 * 429, a forged secure link or token) are sampled (RefusalSampler) so a flood cannot grow the trail
 * without bound; every other refusal is recorded one by one.
 */
export const auditRefusals: ErrorRequestHandler = (err, req, res, next) => {
  const target = req.audit && res.locals.auditRecorded !== true ? auditTarget(req) : undefined;
  if (!target || (target.audit !== 'deliver' && !isChangeAction(target.audit))) return next(err);
  const action = target.audit;
  // A Clear Key license names no resource in its path; a playback token's resource stands in for it.
  const resourceId =
    target.resourceId ??
    (target.apiKeyId === undefined ? undefined : apiKeyResource(target.apiKeyId)) ??
    (action === 'deliver' ? req.principal?.resourceId : undefined) ??
    UNKNOWN_RESOURCE;
  const known = toKeyplaneError(err);
  const status = known?.status ?? 500;
  const reason = (known?.details.reason as string | undefined) ?? known?.code ?? 'internal';
  const principal = callerOf(req, err);
  const ip = clientIp(req);
  // Nobody verified: a forged link, a bad token, a flood. Sampled, so it cannot grow the trail without bound.
  if (principal === undefined && req.auditSampler && !req.auditSampler.admit(target.route, ip, reason)) {
    return next(err);
  }
  // A change refused to nobody verified is no tenant's business: under `*`, so a stranger cannot put records
  // in a tenant's trail by naming its resource. An API key refusal stays with the caller's tenant (`*` too):
  // a resource ID can look like `apikey:<id>`.
  const apiKey = action === 'grant' || target.apiKeyId !== undefined;
  const tenant =
    action !== 'deliver' && principal === undefined
      ? Promise.resolve(ALL_TENANTS)
      : apiKey
        ? Promise.resolve(req.principal?.tenant ?? callerTenant(req))
        : ownerTenant(req, resourceId, callerTenant(req));
  void tenant
    .then((tenant) =>
      req.audit?.record([
        {
          action,
          route: target.route,
          resourceId,
          tenant,
          status,
          reason,
          ...(target.kid === undefined ? {} : { kid: target.kid }),
          ...(principal === undefined ? {} : { principal }),
          ...(ip === '' ? {} : { clientIp: ip }),
        },
      ]),
    )
    .then(() => next(err));
};
