/**
 * Segment fetches for session-level encryption: one origin request (optionally a byte range), streamed,
 * with a bound on the wait for headers, on the whole exchange and on the size.
 */
import crypto from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KeyplaneError, NotFoundError } from '../errors';
import { MAX_ORIGIN_REDIRECTS, OriginError } from './origin';

/** How long and how large a segment exchange may be. */
export interface SegmentLimits {
  /** Until the origin's response headers arrive (KEYPLANE_ORIGIN_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** The whole exchange, body included. */
  timeoutMs: number;
  maxBytes: number;
}

/** A byte range of an origin file (from EXT-X-BYTERANGE). */
export interface ByteRange {
  offset: bigint;
  length: bigint;
}

/** A segment on its way: the origin body (capped, aborted on timeout) and what the origin declared. */
export interface OriginSegment {
  body: Readable;
  /** The body's length when the origin declared it. */
  length?: number;
  contentType?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A stream that fails once more than `max` bytes went through it. */
function capped(max: number): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      if (total > max) return done(new OriginError(`Origin segment is larger than ${max} bytes`));
      done(null, chunk);
    },
  });
}

function describe(err: unknown, limits: SegmentLimits): KeyplaneError {
  if (err instanceof KeyplaneError) return err;
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new OriginError(`Origin did not answer the segment within ${limits.headersTimeoutMs} ms`);
  }
  // Never the cause: it would tell callers what listens where.
  return new OriginError('Origin could not be reached');
}

function checkRange(res: Response, range: ByteRange): void {
  if (res.status !== 206) throw new OriginError('Origin ignored the Range request of a byte-range segment');
  const m = /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  const end = range.offset + range.length - 1n;
  if (!m || BigInt(m[1] as string) !== range.offset || BigInt(m[2] as string) !== end) {
    throw new OriginError('Origin answered a different byte range than requested');
  }
}

async function request(url: URL, range: ByteRange | undefined, signal: AbortSignal): Promise<Response> {
  // Segments are passed on byte for byte with the origin's length: fetch would otherwise ask for gzip by
  // itself and hand back the decoded body under the encoded Content-Length.
  const headers: Record<string, string> = { accept: '*/*', 'accept-encoding': 'identity' };
  if (range) headers.range = `bytes=${range.offset}-${range.offset + range.length - 1n}`;
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await fetch(target, { signal, redirect: 'manual', headers });
    if (!REDIRECTS.has(res.status)) return res;
    await res.body?.cancel();
    if (hop >= MAX_ORIGIN_REDIRECTS) throw new OriginError('Origin redirected the segment too many times');
    let next: URL | undefined;
    try {
      next = new URL(res.headers.get('location') ?? '', target);
    } catch {
      next = undefined;
    }
    if (!next || next.origin !== url.origin) throw new OriginError('Origin redirected the segment to another origin');
    target = next;
  }
}

/**
 * Fetches one segment (the whole file, or `range` with a `Range` header: the origin must answer 206
 * with that range). Carries nothing of the player's. 404/410 at the origin → 404; other failures,
 * a timeout or a body over `maxBytes` → 502 naming no upstream host. The body is a stream: nothing
 * is buffered whole.
 */
export async function fetchSegment(
  url: URL,
  range: ByteRange | undefined,
  limits: SegmentLimits,
): Promise<OriginSegment> {
  const whole = AbortSignal.timeout(limits.timeoutMs);
  const headers = new AbortController();
  const timer = setTimeout(() => headers.abort(), limits.headersTimeoutMs);
  try {
    const res = await request(url, range, AbortSignal.any([whole, headers.signal]));
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      throw new NotFoundError('Origin has no such segment');
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new OriginError(`Origin answered ${res.status} for the segment`, res.status);
    }
    if (range) checkRange(res, range);
    // An origin that encodes anyway: its Content-Length is the encoded size, not the bytes we pass on.
    const encoded = (res.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
    const declared = encoded ? NaN : Number(res.headers.get('content-length') ?? NaN);
    if (declared > limits.maxBytes) {
      await res.body?.cancel();
      throw new OriginError(`Origin segment is larger than ${limits.maxBytes} bytes`);
    }
    const source = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    const body = source.pipe(capped(range ? Number(range.length) : limits.maxBytes));
    source.on('error', (err) => body.destroy(describe(err, limits)));
    // The caller pipes the body only after its audit write; an error before that (the origin cut off, the
    // cap passed) would otherwise be an 'error' event nobody listens to, which ends the process. The
    // pipeline still sees it: the body stays errored.
    body.on('error', () => undefined);
    return {
      body,
      ...(Number.isSafeInteger(declared) ? { length: declared } : {}),
      ...(res.headers.get('content-type') ? { contentType: res.headers.get('content-type') as string } : {}),
    };
  } catch (err) {
    throw describe(err, limits);
  } finally {
    clearTimeout(timer);
  }
}

/** The HLS default IV of a segment: its media sequence number as a 128-bit big-endian integer. */
export function sequenceIv(seq: bigint): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(seq, 8);
  return iv;
}

/** AES-128-CBC with PKCS#7 padding, as HLS METHOD=AES-128 decrypts it: a Transform, nothing buffered whole. */
export function segmentCipher(key: Buffer, seq: bigint): Transform {
  return crypto.createCipheriv('aes-128-cbc', key, sequenceIv(seq));
}

/** The length of `n` bytes encrypted with AES-128-CBC and PKCS#7 padding (always 1–16 bytes added). */
export function encryptedLength(n: number): number {
  return (Math.floor(n / 16) + 1) * 16;
}
