import { Router } from 'express';
import { EXACT_ROUTING } from './exact-routing';
import { AUDIT_PAGE, type AuditLog } from '../audit/audit-log';
import { requireRole } from './authenticate';
import { BadRequestError } from '../errors';
import { noStore } from './respond';
import { checkResourceId } from '../domain/ids';
import { tenantFilter } from './api-key-routes';
import { tenantOf } from './principal-tenant';

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${name} must be given once`);
  return value;
}

/** Whether year-month-day is a day of the calendar (JavaScript's Date turns 2024-02-30 into March 1st). */
function calendarDay(y: number, m: number, d: number): boolean {
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function since(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = /^(\d{4})-(\d{2})-(\d{2})T/.exec(value);
  const time = date ? new Date(value) : new Date(NaN);
  if (Number.isNaN(time.getTime())) throw new BadRequestError('since must be an ISO 8601 date-time');
  if (!calendarDay(Number(date?.[1]), Number(date?.[2]), Number(date?.[3]))) {
    throw new BadRequestError(`since names a day that does not exist: ${value.slice(0, 10)}`);
  }
  return time;
}

function limit(value: string | undefined): number {
  if (value === undefined) return AUDIT_PAGE.default;
  const n = Number(value);
  if (!/^\d{1,4}$/.test(value) || n < 1 || n > AUDIT_PAGE.max) {
    throw new BadRequestError(`limit must be an integer from 1 to ${AUDIT_PAGE.max}`);
  }
  return n;
}

/**
 * `GET /audit?resourceId=&tenant=&since=&limit=&cursor=` (admin): audit records oldest first,
 * paginated; a tenant admin sees only its tenant's records, `*` all (or one `?tenant=`).
 */
export function auditRoutes(audit: AuditLog): Router {
  const router = Router(EXACT_ROUTING);
  router.get('/audit', requireRole('admin'), noStore, async (req, res) => {
    const resourceId = single(req.query.resourceId, 'resourceId');
    const page = await audit.query({
      resourceId: resourceId === undefined ? undefined : checkResourceId(resourceId),
      tenant: tenantFilter(tenantOf(req), single(req.query.tenant, 'tenant')),
      since: since(single(req.query.since, 'since')),
      limit: limit(single(req.query.limit, 'limit')),
      cursor: single(req.query.cursor, 'cursor'),
    });
    res.json(page);
  });
  return router;
}
