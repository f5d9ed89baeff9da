import type { Request } from 'express';
import { UnauthorizedError } from '../errors';

/**
 * The tenant of the authenticated caller, for routes behind `requireRole` (which has already answered
 * 401 without a principal; this throws the same rather than fall back to some tenant).
 */
export function tenantOf(req: Request): string {
  const principal = req.principal;
  if (!principal) throw new UnauthorizedError();
  return principal.tenant;
}
