import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { redactSecrets } from '../logger';
import {
  BadRequestError,
  KeyplaneError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedContentEncodingError,
  UnsupportedMediaTypeError,
} from '../errors';

interface BodyParserError {
  type?: string;
  limit?: number;
  status?: number;
  charset?: string;
  /** The Content-Encoding body-parser refused (`encoding.unsupported`). */
  encoding?: string;
  /** The raw body of an `entity.parse.failed` (within the route's body limit). */
  body?: unknown;
}

function isJson(body: unknown): boolean {
  if (typeof body !== 'string') return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

/** Turns body-parser failures into Keyplane errors (413, 400, 415). */
function fromBodyParser(err: BodyParserError): KeyplaneError | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return new PayloadTooLargeError(err.limit ?? 0);
    case 'entity.parse.failed':
      // Strict parsing refuses valid JSON that is not an object or array (`null`, `3`) the same way.
      return new BadRequestError(
        isJson(err.body) ? 'Request body must be a JSON object' : 'Request body is not valid JSON',
      );
    case 'encoding.unsupported':
      return new UnsupportedContentEncodingError(err.encoding);
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError('a UTF-8 body', err.charset ?? 'unknown encoding');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new BadRequestError('Request body could not be read');
    default:
      return undefined;
  }
}

/** Other 400s raised by Express itself: bad percent-encoding in a path, an undecodable Content-Encoding. */
function fromExpress(err: unknown): KeyplaneError | undefined {
  if ((err as { status?: unknown }).status !== 400) return undefined;
  if (err instanceof URIError) return new BadRequestError('Request path is not valid percent-encoding');
  return new BadRequestError('Request body could not be decoded (check Content-Encoding)');
}

/** Converts anything thrown into a KeyplaneError, or undefined when it is our bug. */
export function toKeyplaneError(err: unknown): KeyplaneError | undefined {
  if (err instanceof KeyplaneError) return err;
  const fromParser = fromBodyParser(err as BodyParserError) ?? fromExpress(err);
  // Store outages arrive as ServiceUnavailableError already: each backend maps its own failures.
  return fromParser;
}

/** Longest message a response or log line carries: messages may quote the request (a parser's view of a 1 MB body). */
const MAX_MESSAGE_CHARS = 1000;

function clip(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message;
}

/** The one place errors become HTTP responses: JSON `{error, message, ...}`; 500s carry only a correlation id. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const known = toKeyplaneError(err);
    const requestId = (res.getHeader('X-Request-Id') as string | undefined) ?? crypto.randomUUID();
    // Refused before its body was read (credentials, size, type): close rather than read the rest, so a
    // client that announced a body and never sends it cannot hold the connection until the request timeout.
    if (!req.complete) res.set('Connection', 'close');
    if (!known) {
      logger.error({ requestId, err, method: req.method, route: req.route?.path }, 'unhandled error');
      res.status(500).json({ error: 'internal', message: 'Internal error', correlationId: requestId });
      return;
    }
    const level = known.status >= 500 ? 'warn' : 'info';
    const message = clip(known.message);
    logger[level]({ requestId, status: known.status, code: known.code, error: message }, 'request rejected');
    res.set(known.headers);
    res.set('Cache-Control', 'no-store');
    res.status(known.status).json({ error: known.code, message, ...known.details });
  };
}

/** 404 for routes that do not exist. */
export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new NotFoundError(`No route for ${req.method} ${redactSecrets(req.path)}`));
}
