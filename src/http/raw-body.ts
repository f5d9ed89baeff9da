import type { Request } from 'express';
import { BadRequestError, PayloadTooLargeError } from '../errors';

declare module 'express-serve-static-core' {
  interface Request {
    /** The body bytes exactly as received, when an authenticator needed them (SigV4). */
    rawBody?: Buffer;
  }
}

/** Whether the request announces a body (chunked, or a non-zero Content-Length). */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

/**
 * Reads the whole request body and puts it back into the stream with `readable.unshift()`, so a
 * signature can be checked over the exact bytes before authentication while the route's own
 * parser (express.text / express.json) still reads the body afterwards, unchanged.
 * Resolves to an empty buffer for requests without a body.
 */
export function captureRawBody(req: Request, limitBytes: number): Promise<Buffer> {
  if (req.rawBody) return Promise.resolve(req.rawBody);
  if (!hasBody(req)) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      req.off('readable', onReadable);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('aborted', onAborted);
      if (err) return reject(err);
      const body = Buffer.concat(chunks);
      if (body.length > 0) req.unshift(body);
      req.rawBody = body;
      resolve(body);
    };
    const onAborted = () => done(new BadRequestError('Request body could not be read'));
    // The stream only ends once every byte was read; bytes can then no longer be put back.
    const onEnd = () => done(size === 0 ? undefined : new BadRequestError('Request body could not be read'));
    function onReadable(): void {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
        if (size > limitBytes) return done(new PayloadTooLargeError(limitBytes));
      }
      // `complete` is set once the parser has pushed the last byte: everything is in `chunks`.
      if (req.complete) done();
    }
    req.on('readable', onReadable);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('aborted', onAborted);
  });
}
