/**
 * SigV4 at the HTTP edge: runs the header-time check of `src/auth/sigv4.ts` on the Express request
 * and leaves what is left to check on the request (`req.signedBodyCheck`), for the signed-body
 * middleware (`signed-body.ts`) to run once it has read the body.
 */
import { sigv4Checker, type SignedBodyCheck, type SigV4Options } from '../auth/sigv4';
import type { HttpAuthenticator } from './authenticate';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the SigV4 authenticator on a request whose body the signature covers (see SignedBodyCheck). */
    signedBodyCheck?: SignedBodyCheck;
  }
}

/** Authenticator for SigV4-signed requests; unsigned requests fall through, bad signatures are a 403. */
export function sigv4Authenticator(opts: SigV4Options): HttpAuthenticator {
  const check = sigv4Checker(opts);
  return async (req) => {
    const verdict = await check(req);
    if (verdict === undefined) return undefined;
    req.signedBodyCheck = verdict.signedBodyCheck;
    return verdict.principal;
  };
}
