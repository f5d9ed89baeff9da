/**
 * CORS for the routes browsers call cross-origin (`POST /clearkey/license`). Credentials travel in the
 * `Authorization` header, never in cookies, so `Access-Control-Allow-Credentials` is never sent and `*`
 * exposes nothing a page did not already hold; a list narrows it to known player origins.
 */
import type { Request, RequestHandler, Response } from 'express';
import { AccessDeniedError } from '../auth/delivery-errors';

/** Which browser origins may call: any (`*`) or a list of `https://player.example.com` / `https://*.example.com`. */
export type CorsOrigins = '*' | readonly string[];

/** Request headers a license request may carry. */
export const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, X-Api-Key';
/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

const ENTRY = /^(https?):\/\/(\*\.)?([a-z0-9.-]+?)(?::(\d{1,5}))?$/;

function defaultPort(scheme: string): string {
  return scheme === 'https' ? '443' : '80';
}

/** Whether `origin` (an `Origin` header value) matches one configured entry (already validated and lower-cased). */
export function originMatches(entry: string, origin: string): boolean {
  const parts = ENTRY.exec(entry);
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (!parts || url.origin === 'null') return false;
  const [, scheme, wildcard, host, port] = parts as unknown as [string, string, string | undefined, string, string?];
  const hostOk = wildcard ? url.hostname.endsWith(`.${host}`) : url.hostname === host;
  const urlPort = url.port || defaultPort(url.protocol.slice(0, -1));
  return url.protocol === `${scheme}:` && hostOk && urlPort === (port ?? defaultPort(scheme));
}

/** The `Access-Control-Allow-Origin` value for this origin, or undefined when it is not allowed. */
export function allowedOrigin(origins: CorsOrigins, origin: string): string | undefined {
  if (origins === '*') return '*';
  return origins.some((entry) => originMatches(entry, origin)) ? origin : undefined;
}

function allowOrigin(origins: CorsOrigins, req: Request, res: Response): void {
  const origin = req.get('origin');
  if (origin === undefined) return;
  const allowed = allowedOrigin(origins, origin);
  if (allowed === undefined) {
    throw new AccessDeniedError('origin_denied', 'Origin is not allowed by KEYPLANE_CORS_ORIGINS');
  }
  res.set('Access-Control-Allow-Origin', allowed);
  if (allowed !== '*') res.vary('Origin');
}

/** Answers a CORS preflight (`OPTIONS`): 204 with the allowed method and headers, 403 for an origin not allowed. */
export function corsPreflight(origins: CorsOrigins, methods: string): RequestHandler {
  return (req, res) => {
    allowOrigin(origins, req, res);
    res.set({
      Allow: `${methods}, OPTIONS`,
      'Access-Control-Allow-Methods': `${methods}, OPTIONS`,
      'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
      'Cache-Control': 'no-store',
    });
    res.status(204).end();
  };
}

/**
 * Adds `Access-Control-Allow-Origin` before anything else runs, so the browser lets the page read errors
 * (401, 403, 404) too; 403 `origin_denied` when a browser origin is not in the list.
 */
export function corsActual(origins: CorsOrigins): RequestHandler {
  return (req, res, next) => {
    allowOrigin(origins, req, res);
    next();
  };
}
