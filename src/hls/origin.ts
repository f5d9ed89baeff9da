import { KeyplaneError } from '../errors';
import type { PlaylistSyntaxError } from './attribute-list';

/** Where playlists come from (`KEYPLANE_ORIGIN_*`) and how long/large an origin answer may be. */
export interface OriginConfig {
  /** Absolute http(s) URL with `{resourceId}`, ending with `/`: the resource's base on the origin. */
  urlTemplate: string;
  timeoutMs: number;
  maxBytes: number;
  /**
   * Query names that carry a player's credential under this deployment's own name
   * (`KEYPLANE_EDGEAUTH_TOKEN_NAME`): never sent to the origin, like the built-in ones.
   */
  credentialParams?: readonly string[];
}

/** The origin failed, timed out, sent too much or sent something that is not a playlist (502). */
export class OriginError extends KeyplaneError {
  constructor(message: string, originStatus?: number) {
    super(502, 'bad_gateway', message, originStatus === undefined ? {} : { details: { originStatus } });
  }
}

/** The 502 of a playlist the origin sent that does not parse: the rule broken and the line, never its text. */
export function invalidOriginPlaylist(err: PlaylistSyntaxError): OriginError {
  const at = err.line !== undefined ? ` (line ${err.line})` : '';
  return new OriginError(`Origin sent an invalid playlist${at}: ${err.rule}`);
}

/** Validates an origin URL template; returns it with a trailing `/`, or throws Error saying why. */
export function checkOriginTemplate(raw: string): string {
  if (!raw.includes('{resourceId}')) throw new Error('must contain {resourceId} (each resource has its own base)');
  let url: URL;
  try {
    url = new URL(raw.replaceAll('{resourceId}', 'x'));
  } catch {
    throw new Error(`must be an absolute URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must use http(s), got "${url.protocol}"`);
  if (url.search !== '' || url.hash !== '') throw new Error('must not have a query or fragment');
  if (/\{(?!resourceId\})/.test(raw)) throw new Error('knows only the {resourceId} placeholder');
  return raw.endsWith('/') ? raw : `${raw}/`;
}

/** The resource's base URL on the origin. */
export function originBase(config: OriginConfig, resourceId: string): URL {
  return new URL(config.urlTemplate.replaceAll('{resourceId}', encodeURIComponent(resourceId)));
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new OriginError(`Origin playlist is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += (chunk as Uint8Array).byteLength;
    if (total > maxBytes) throw new OriginError(`Origin playlist is larger than ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

function describeFailure(err: unknown, timeoutMs: number): OriginError {
  if (err instanceof OriginError) return err;
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new OriginError(`Origin did not answer within ${timeoutMs} ms`);
  }
  // Never the cause (ECONNREFUSED, ENOTFOUND, a TLS error): it would tell callers what listens where.
  return new OriginError('Origin could not be reached');
}

/** How many same-origin redirects a playlist fetch follows; a redirect to another origin is refused. */
export const MAX_ORIGIN_REDIRECTS = 3;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function redirectTarget(res: Response, from: URL): URL {
  let next: URL | undefined;
  try {
    next = new URL(res.headers.get('location') ?? '', from);
  } catch {
    next = undefined;
  }
  // The Location is not quoted back: it may name a host the caller has no business knowing about.
  if (!next || next.origin !== from.origin) throw new OriginError('Origin redirected the playlist to another origin');
  return next;
}

/**
 * Fetches a playlist with the configured timeout (whole exchange) and size cap; returns its text and final URL.
 * Redirects are followed only within the origin of `url` (at most MAX_ORIGIN_REDIRECTS); the request carries
 * nothing of the player's (no token, Authorization, cookie or API key), only `Accept`. Failures are 502s that
 * name no upstream host, port or error text.
 */
export async function fetchPlaylist(url: URL, config: OriginConfig): Promise<{ text: string; url: URL }> {
  const signal = AbortSignal.timeout(config.timeoutMs);
  try {
    let target = url;
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, {
        signal,
        redirect: 'manual',
        headers: { accept: 'application/vnd.apple.mpegurl' },
      });
      if (REDIRECTS.has(res.status)) {
        await res.body?.cancel();
        if (hop >= MAX_ORIGIN_REDIRECTS) throw new OriginError('Origin redirected the playlist too many times');
        target = redirectTarget(res, url);
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new OriginError(`Origin answered ${res.status} for the playlist`, res.status);
      }
      const body = await readCapped(res, config.maxBytes);
      return { text: body.toString('utf8'), url: target };
    }
  } catch (err) {
    throw describeFailure(err, config.timeoutMs);
  }
}
