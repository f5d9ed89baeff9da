import { bearerValue } from './bearer';
import type { NextFunction, Request, Response } from 'express';
import { ForbiddenError, UnauthorizedError } from '../errors';
import { hasRole, type Principal, type Role } from './principal';

/**
 * One way of recognising a caller (API key, API Gateway IAM identity, SigV4, playback token).
 * Returns undefined when the request carries no credential of its kind; throws when it carries
 * a bad one.
 */
export type Authenticator = (req: Request) => Promise<Principal | undefined>;

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Extracts a bearer token or x-api-key header value. */
export function presentedApiKey(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header !== undefined) return bearerValue(header);
  return req.get('x-api-key') ?? undefined;
}

/** Middleware factory: tries each authenticator in order; 401 when none recognises the caller. */
export function authenticate(authenticators: Authenticator[]) {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    try {
      for (const auth of authenticators) {
        const principal = await auth(req);
        if (principal) {
          req.principal = principal;
          return next();
        }
      }
      const presented = req.get('authorization') ?? req.get('x-api-key');
      next(new UnauthorizedError(presented ? 'Invalid or revoked credentials' : undefined));
    } catch (err) {
      next(err);
    }
  };
}

/** Middleware factory: 403 unless the authenticated principal holds one of `roles` (admin always passes). */
export function requireRole(...roles: Role[]) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const principal = req.principal;
    if (!principal) return next(new UnauthorizedError());
    if (roles.some((r) => hasRole(principal, r))) return next();
    next(new ForbiddenError(`This route needs the ${roles.join(' or ')} role`));
  };
}
