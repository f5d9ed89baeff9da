import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { announcesBody } from '../auth/sigv4';
import { BadRequestError, PayloadTooLargeError } from '../errors';

/**
 * Reads the whole body (at most `limitBytes`), hashing it as it arrives, and puts it back into the
 * stream with `readable.unshift()` (the check that follows decides whether any route sees it), so the route's own parser (express.text / express.json) still
 * reads it afterwards, unchanged. Resolves to an empty buffer for requests without a body.
 */
function readHashed(req: Request, limitBytes: number): Promise<{ body: Buffer; sha256Hex: string }> {
  const hash = crypto.createHash('sha256');
  if (!announcesBody(req)) return Promise.resolve({ body: Buffer.alloc(0), sha256Hex: hash.digest('hex') });
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
      // Put back now, in the same tick: once 'end' has been emitted the stream takes nothing back.
      if (body.length > 0) req.unshift(body);
      resolve({ body, sha256Hex: hash.digest('hex') });
    };
    const onAborted = () => done(new BadRequestError('Request body could not be read'));
    // The stream only ends once every byte was read; bytes can then no longer be put back.
    const onEnd = () => done(size === 0 ? undefined : new BadRequestError('Request body could not be read'));
    function onReadable(): void {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) {
        size += chunk.length;
        if (size > limitBytes) return done(new PayloadTooLargeError(limitBytes));
        chunks.push(chunk);
        hash.update(chunk);
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

/**
 * Middleware after authentication: when the authenticator left a check on the body (SigV4:
 * `req.signedBodyCheck`), reads the body (bounded, hashed as it arrives), runs the check, and only
 * then lets the request reach a route, with the body back in the stream for the route's parser.
 * Requests without such a check pass untouched and unread.
 */
export function verifySignedBody(limitBytes: number) {
  return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    const check = req.signedBodyCheck;
    if (!check) return next();
    try {
      const { body, sha256Hex } = await readHashed(req, limitBytes);
      await check(body, sha256Hex);
      next();
    } catch (err) {
      next(err);
    }
  };
}
