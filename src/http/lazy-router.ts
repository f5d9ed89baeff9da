import type { Request, RequestHandler } from 'express';

/** The first segment of the request path, as spelled: routes match case-exactly (EXACT_ROUTING). */
function firstSegment(req: Request): string {
  const path = req.path;
  const end = path.indexOf('/', 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
}

/**
 * A router that is built on the first request whose path starts with one of `segments` (the first
 * path segment of each of its routes); every other request passes by untouched. `build` typically
 * `require()`s the router's module, so that module and what only it imports are initialised then,
 * not when the app starts (the Lambda cold start of a SPEKE request never pays for the admin API).
 */
export function lazyRouter(segments: readonly string[], build: () => RequestHandler): RequestHandler {
  const served = new Set(segments);
  let router: RequestHandler | undefined;
  return (req, res, next) => {
    if (!served.has(firstSegment(req))) return next();
    router ??= build();
    return router(req, res, next);
  };
}
