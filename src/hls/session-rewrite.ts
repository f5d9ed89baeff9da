/**
 * The playlist rewrite of session-level encryption (pure): every URI goes through the session,
 * media playlists gain the session's EXT-X-KEY, byte ranges become segments of their own.
 */
import { PLAYLIST_CONTEXTS, rewriteUris, tagAttribute, type Playlist, type TagLine, type UriContext } from './playlist';

/** Origin content that is already encrypted: refused, never encrypted twice (a 502-style error upstream). */
export class AlreadyEncryptedError extends Error {
  constructor(readonly tag: string) {
    super(`origin playlist is already encrypted (${tag} with METHOD other than NONE)`);
    this.name = 'AlreadyEncryptedError';
  }
}

/** A playlist sessions cannot serve (a segment outside the resource's origin base, LL-HLS parts). */
export class SessionPlaylistError extends Error {
  constructor(readonly rule: string) {
    super(rule);
    this.name = 'SessionPlaylistError';
  }
}

/** Where a playlist came from and where the session serves things. */
export interface SessionRewriteOptions {
  /** The origin URL this playlist was fetched from (relative URIs resolve against it). */
  playlistUrl: URL;
  /** The resource's base on the origin (ends with `/`): only what is under it goes through the session. */
  originBase: URL;
  /** `…/sessions/{sessionId}/hls/{resourceId}/`: append the path below the origin base. */
  sessionBase: string;
  /** The session's key URI (`…/sessions/{sessionId}/key`). */
  keyUri: string;
}

/** Query parameters the session adds to segment URIs (and strips before asking the origin). */
export const SESSION_PARAMS = { seq: 'kp_seq', offset: 'kp_off', length: 'kp_len', init: 'kp_init' } as const;

const LOW_LATENCY_TAGS = new Set(['EXT-X-PART', 'EXT-X-PRELOAD-HINT', 'EXT-X-PART-INF']);

function resolve(uri: string, base: URL): URL | undefined {
  try {
    return new URL(uri, base);
  } catch {
    return undefined;
  }
}

/** The path (still percent-encoded) below the origin base, or undefined when `url` is not under it. */
function below(url: URL, base: URL): string | undefined {
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return undefined;
  const rest = url.pathname.slice(base.pathname.length);
  return rest === '' ? undefined : rest;
}

function withParams(search: string, params: Record<string, string>): string {
  const q = new URLSearchParams(search);
  for (const [name, value] of Object.entries(params)) q.set(name, value);
  return `?${q.toString()}`;
}

/** `n[@o]` (EXT-X-BYTERANGE, EXT-X-MAP's BYTERANGE): length and optional offset, both decimal integers. */
function parseByteRange(text: string): { length: bigint; offset?: bigint } {
  const m = /^(\d{1,19})(?:@(\d{1,19}))?$/.exec(text.trim());
  if (!m) throw new SessionPlaylistError(`invalid byte range "${text.slice(0, 40)}"`);
  return { length: BigInt(m[1] as string), ...(m[2] === undefined ? {} : { offset: BigInt(m[2]) }) };
}

function checkNotEncrypted(tag: TagLine): void {
  if ((tag.name === 'EXT-X-KEY' || tag.name === 'EXT-X-SESSION-KEY') && tagAttribute(tag, 'METHOD') !== 'NONE') {
    throw new AlreadyEncryptedError(tag.name);
  }
}

const keyTag = (keyUri: string): TagLine => ({
  type: 'tag',
  name: 'EXT-X-KEY',
  attributes: [
    { name: 'METHOD', value: 'AES-128', kind: 'enumerated' },
    { name: 'URI', value: keyUri, kind: 'quoted-string' },
  ],
});
const noKeyTag: TagLine = {
  type: 'tag',
  name: 'EXT-X-KEY',
  attributes: [{ name: 'METHOD', value: 'NONE', kind: 'enumerated' }],
};

/** The session URI of something under the origin base; undefined when it is elsewhere. */
function sessionUri(uri: string, opts: SessionRewriteOptions, params: Record<string, string> = {}): string | undefined {
  const resolved = resolve(uri, opts.playlistUrl);
  const rest = resolved && below(resolved, opts.originBase);
  if (!resolved || rest === undefined) return undefined;
  const search = Object.keys(params).length > 0 ? withParams(resolved.search, params) : resolved.search;
  return `${opts.sessionBase}${rest}${search}`;
}

function rewriteOther(uri: string, context: UriContext, opts: SessionRewriteOptions): string {
  const inside = sessionUri(uri, opts);
  if (inside !== undefined && PLAYLIST_CONTEXTS.has(context)) return inside;
  if (PLAYLIST_CONTEXTS.has(context)) throw new SessionPlaylistError('a playlist URI is outside the resource base');
  return resolve(uri, opts.playlistUrl)?.href ?? uri;
}

/**
 * Rewrites a multivariant playlist: variant and rendition playlists go through the session (same
 * session id, so every media playlist gets the same key); I-frame playlists are dropped (their byte
 * ranges point into segments the session encrypts whole).
 */
function rewriteMultivariant(playlist: Playlist, opts: SessionRewriteOptions): Playlist {
  const kept = playlist.lines.filter((l) => !(l.type === 'tag' && l.name === 'EXT-X-I-FRAME-STREAM-INF'));
  return rewriteUris({ lines: kept }, (uri, context) => rewriteOther(uri, context, opts));
}

/** Walks a media playlist once: segments numbered from EXT-X-MEDIA-SEQUENCE, ranges tracked per URI. */
function rewriteMedia(playlist: Playlist, opts: SessionRewriteOptions): Playlist {
  let seq = 0n;
  let keyActive = false;
  let range: { length: bigint; offset?: bigint } | undefined;
  const rangeEnds = new Map<string, bigint>();
  const out: Playlist['lines'] = [];
  for (const line of playlist.lines) {
    if (line.type === 'uri') {
      const params: Record<string, string> = { [SESSION_PARAMS.seq]: seq.toString() };
      if (range) {
        const key = resolve(line.uri, opts.playlistUrl)?.href ?? line.uri;
        const offset = range.offset ?? rangeEnds.get(key) ?? 0n;
        rangeEnds.set(key, offset + range.length);
        params[SESSION_PARAMS.offset] = offset.toString();
        params[SESSION_PARAMS.length] = range.length.toString();
      }
      const uri = sessionUri(line.uri, opts, params);
      if (uri === undefined) throw new SessionPlaylistError('a segment URI is outside the resource base');
      out.push({ type: 'uri', uri });
      seq++;
      range = undefined;
      continue;
    }
    if (line.type !== 'tag') {
      out.push(line);
      continue;
    }
    checkNotEncrypted(line);
    if (LOW_LATENCY_TAGS.has(line.name)) throw new SessionPlaylistError('low-latency parts are not supported');
    // A delta update leaves segments out: counting from EXT-X-MEDIA-SEQUENCE would give the rest the
    // wrong IV, and one key and IV to two segments.
    if (line.name === 'EXT-X-SKIP')
      throw new SessionPlaylistError('delta playlist updates (EXT-X-SKIP) are not supported');
    if (line.name === 'EXT-X-MEDIA-SEQUENCE') {
      const value = line.value?.trim() ?? '';
      if (!/^\d{1,19}$/.test(value)) throw new SessionPlaylistError('invalid EXT-X-MEDIA-SEQUENCE');
      seq = BigInt(value);
    }
    if (line.name === 'EXT-X-KEY') continue; // METHOD=NONE: the session's own key replaces it
    if (line.name === 'EXT-X-BYTERANGE') {
      range = parseByteRange(line.value ?? '');
      continue;
    }
    if (line.name === 'EXT-X-MAP') {
      // The init section stays clear: it is declared before (outside) the session's EXT-X-KEY
      // (RFC 8216 4.3.2.4); it holds no media samples.
      if (keyActive) out.push(noKeyTag);
      out.push(rewriteMap(line, opts));
      out.push(keyTag(opts.keyUri));
      keyActive = true;
      continue;
    }
    if (line.name === 'EXTINF' && !keyActive) {
      out.push(keyTag(opts.keyUri));
      keyActive = true;
    }
    out.push(line);
  }
  return { lines: out };
}

function rewriteMap(tag: TagLine, opts: SessionRewriteOptions): TagLine {
  const uri = tagAttribute(tag, 'URI');
  if (uri === undefined) throw new SessionPlaylistError('EXT-X-MAP without URI');
  const params: Record<string, string> = { [SESSION_PARAMS.init]: '1' };
  const byteRange = tagAttribute(tag, 'BYTERANGE');
  if (byteRange !== undefined) {
    const r = parseByteRange(byteRange);
    params[SESSION_PARAMS.offset] = (r.offset ?? 0n).toString();
    params[SESSION_PARAMS.length] = r.length.toString();
  }
  const rewritten = sessionUri(uri, opts, params);
  if (rewritten === undefined) throw new SessionPlaylistError('an EXT-X-MAP URI is outside the resource base');
  const attributes = (tag.attributes ?? [])
    .filter((a) => a.name !== 'BYTERANGE')
    .map((a) => (a.name === 'URI' ? { ...a, value: rewritten } : a));
  return { ...tag, attributes };
}

/**
 * Rewrites an origin playlist for one session. Media playlists: segments become session URIs
 * carrying their media sequence number (the HLS default IV, so the EXT-X-KEY carries no IV) and
 * their byte range (EXT-X-BYTERANGE dropped: each range is a segment of its own); one
 * `EXT-X-KEY:METHOD=AES-128` pointing at the session's key before the first segment; init sections
 * stay clear. Throws AlreadyEncryptedError for an EXT-X-KEY / EXT-X-SESSION-KEY other than NONE.
 */
export function rewriteForSession(playlist: Playlist, opts: SessionRewriteOptions): Playlist {
  const media = playlist.lines.some((l) => l.type === 'tag' && l.name === 'EXTINF');
  if (media) return rewriteMedia(playlist, opts);
  for (const line of playlist.lines) if (line.type === 'tag') checkNotEncrypted(line);
  return rewriteMultivariant(playlist, opts);
}
