import type { NextFunction, Request, Response } from 'express';
import { UnauthorizedError } from '../errors';
import { checkKid, checkResourceId } from '../domain/ids';
import { requireRole } from './authenticate';
import { AccessDeniedError } from './delivery-errors';
import type { Principal } from './principal';

/** Throws 403 unless a playback-token principal covers this resource and KID (others pass untouched). */
export function checkTokenScope(principal: Principal, resourceId: string, kid: string): void {
  if (principal.via !== 'token') return;
  if (principal.resourceId !== resourceId) {
    throw new AccessDeniedError('token_resource_mismatch', 'Playback token was issued for a different resource');
  }
  if (principal.kids && !principal.kids.has(kid)) {
    throw new AccessDeniedError('token_kid_not_allowed', 'Playback token does not cover this KID');
  }
}

const keyserver = requireRole('keyserver');

/**
 * Guard for `GET /keys/{resourceId}/{kid}`: the keyserver (or admin) role, or a playback token
 * scoped to exactly this resource (and KID, when the token lists KIDs).
 */
export function requireKeyAccess(req: Request, res: Response, next: NextFunction): void {
  const principal = req.principal;
  if (!principal) return next(new UnauthorizedError());
  if (principal.via !== 'token') return keyserver(req, res, next);
  checkTokenScope(principal, checkResourceId(req.params.resourceId), checkKid(req.params.kid));
  next();
}
