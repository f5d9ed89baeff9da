import type { RequestHandler } from 'express';
import { applyCors } from '../delivery/delivery-http';
import { corsDecision, preflightHeaders, type CorsOrigins } from '../delivery/cors';

/** The CORS allow-list type, where the config reads it from. */
export type { CorsOrigins };

/** Answers a CORS preflight (`OPTIONS`): 204 with the allowed method and headers, 403 for an origin not allowed. */
export function corsPreflight(origins: CorsOrigins, methods: string): RequestHandler {
  return (req, res) => {
    applyCors(res, corsDecision(origins, req.get('origin')));
    res.set(preflightHeaders(methods));
    res.status(204).end();
  };
}

/**
 * Adds `Access-Control-Allow-Origin` before anything else runs, so the browser lets the page read errors
 * (401, 403, 404) too; 403 `origin_denied` when a browser origin is not in the list.
 */
export function corsActual(origins: CorsOrigins): RequestHandler {
  return (req, res, next) => {
    applyCors(res, corsDecision(origins, req.get('origin')));
    next();
  };
}
