import { UUID_PATTERN } from '../domain/ids';
import { PLAYLIST_CONTEXTS, rewriteUris, tagAttribute, type Playlist, type TagLine, type UriContext } from './playlist';

/** An EXT-X-KEY whose URI (and KEYID) names no KID, so it cannot be pointed at a tokenized key URL. */
export class KeyUriError extends Error {
  constructor(readonly uri: string) {
    super(`EXT-X-KEY URI "${uri}" names no KID (a UUID in its path or query, or KEYID)`);
    this.name = 'KeyUriError';
  }
}

/** Where a playlist came from and where its URIs should send the player. */
interface PlaybackRewriteOptions {
  /** The origin URL this playlist was fetched from (relative URIs resolve against it). */
  playlistUrl: URL;
  /** The resource's base on the origin (ends with `/`): only playlists under it go through us. */
  originBase: URL;
  /** Our playlist route for this token and resource, ending with `/`: append the path below the base. */
  proxyBase: string;
  /** The tokenized key URL for a KID. */
  keyUrl: (kid: string) => string;
}

function kidFromKeyId(keyId: string | undefined): string | undefined {
  const hex = keyId?.replace(/^0x/i, '');
  if (!hex || !/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The KID a key URI names: the last UUID path segment, else a UUID query value, else KEYID. */
export function kidOfKeyUri(uri: URL, keyId?: string): string | undefined {
  const segments = uri.pathname.split('/').map(decoded).reverse();
  const fromPath = segments.find((s) => UUID_PATTERN.test(s));
  const fromQuery = [...uri.searchParams.values()].find((v) => UUID_PATTERN.test(v));
  return (fromPath ?? fromQuery ?? kidFromKeyId(keyId))?.toLowerCase();
}

function resolve(uri: string, base: URL): URL | undefined {
  try {
    return new URL(uri, base);
  } catch {
    return undefined;
  }
}

function isIdentityKey(tag: TagLine | undefined): boolean {
  if (!tag) return false;
  const method = tagAttribute(tag, 'METHOD');
  const format = tagAttribute(tag, 'KEYFORMAT') ?? 'identity';
  return method !== undefined && method !== 'NONE' && format === 'identity';
}

function rewriteKey(uri: string, tag: TagLine | undefined, opts: PlaybackRewriteOptions): string {
  if (!isIdentityKey(tag)) return uri;
  const resolved = resolve(uri, opts.playlistUrl);
  const kid = resolved && kidOfKeyUri(resolved, tag && tagAttribute(tag, 'KEYID'));
  if (!kid) throw new KeyUriError(uri);
  return opts.keyUrl(kid);
}

/** The path below the origin base when `url` is a playlist under it, else undefined. */
function pathBelowBase(url: URL, base: URL, context: UriContext): string | undefined {
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return undefined;
  const rest = url.pathname.slice(base.pathname.length);
  const isPlaylist = rest.toLowerCase().endsWith('.m3u8') || (PLAYLIST_CONTEXTS.has(context) && rest.endsWith('.m3u'));
  return isPlaylist && rest !== '' ? rest : undefined;
}

function rewriteOther(uri: string, context: UriContext, opts: PlaybackRewriteOptions): string {
  const resolved = resolve(uri, opts.playlistUrl);
  if (!resolved || (resolved.protocol !== 'http:' && resolved.protocol !== 'https:')) return uri;
  const below = pathBelowBase(resolved, opts.originBase, context);
  return below === undefined ? resolved.href : `${opts.proxyBase}${below}${resolved.search}`;
}

/**
 * Points a playlist at the player's grant: identity-format EXT-X-KEY / EXT-X-SESSION-KEY URIs become the
 * tokenized key URL of their KID (other key formats, e.g. FairPlay `skd://`, and METHOD=NONE stay);
 * `.m3u8` playlists under the resource's origin base go through our playlist route; everything else
 * (segments, init sections, other hosts) becomes an absolute origin URL so the player fetches it directly.
 */
export function rewriteForPlayback(playlist: Playlist, opts: PlaybackRewriteOptions): Playlist {
  return rewriteUris(playlist, (uri, context, tag) =>
    context === 'key' || context === 'session-key' ? rewriteKey(uri, tag, opts) : rewriteOther(uri, context, opts),
  );
}
