import type { RequestHandler } from 'express';
import { BadRequestError } from '../errors';

/** Middleware: every response of a route carrying keys or secrets, errors included, must never be cached. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

/** A JSON request body as an object, or a 400 that says what was expected. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('Request body must be a JSON object (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}
