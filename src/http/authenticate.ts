import type { NextFunction, Request, Response } from 'express';
import type { Authenticator } from '../auth/credential-source';
import { hasRole, type Principal, type Role } from '../auth/principal';
import { ForbiddenError, UnauthorizedError } from '../errors';

/** An authenticator as the app runs it: on the Express request (every CredentialSource check is one). */
export type HttpAuthenticator = Authenticator<Request>;

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Middleware factory: tries each authenticator in order; 401 when none recognises the caller. */
export function authenticate(authenticators: HttpAuthenticator[]) {
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
