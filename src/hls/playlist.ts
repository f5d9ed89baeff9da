import {
  breaksLine,
  parseAttributeList,
  PlaylistSyntaxError,
  serializeAttributeList,
  type Attribute,
} from './attribute-list';

export { PlaylistSyntaxError };

/** Tags whose value is an attribute list (RFC 8216 and its LL-HLS / steering additions). */
const ATTRIBUTE_TAGS = new Set([
  'EXT-X-KEY',
  'EXT-X-SESSION-KEY',
  'EXT-X-MAP',
  'EXT-X-MEDIA',
  'EXT-X-STREAM-INF',
  'EXT-X-I-FRAME-STREAM-INF',
  'EXT-X-SESSION-DATA',
  'EXT-X-DATERANGE',
  'EXT-X-START',
  'EXT-X-PART',
  'EXT-X-PART-INF',
  'EXT-X-SERVER-CONTROL',
  'EXT-X-PRELOAD-HINT',
  'EXT-X-RENDITION-REPORT',
  'EXT-X-SKIP',
  'EXT-X-CONTENT-STEERING',
  'EXT-X-DEFINE',
]);

/** A `#EXT...` tag: `name` without `#`; `attributes` for attribute-list tags, else the raw `value` (if any). */
export interface TagLine {
  type: 'tag';
  name: string;
  value?: string;
  attributes?: Attribute[];
}

/** One line of a playlist. Comments are `#` lines that are not tags. */
type PlaylistLine = TagLine | { type: 'uri'; uri: string } | { type: 'comment'; text: string } | { type: 'blank' };

/** A parsed playlist: its lines in order (the `#EXTM3U` header included as the first tag). */
export interface Playlist {
  lines: PlaylistLine[];
}

/** What a URI points at, decided by the tag that carries it (or, for URI lines, the tag before). */
export type UriContext =
  | 'key'
  | 'session-key'
  | 'variant'
  | 'rendition'
  | 'iframe-playlist'
  | 'rendition-report'
  | 'segment'
  | 'map'
  | 'part'
  | 'preload-hint'
  | 'session-data';

const URI_TAGS: Readonly<Record<string, UriContext>> = {
  'EXT-X-KEY': 'key',
  'EXT-X-SESSION-KEY': 'session-key',
  'EXT-X-MEDIA': 'rendition',
  'EXT-X-I-FRAME-STREAM-INF': 'iframe-playlist',
  'EXT-X-RENDITION-REPORT': 'rendition-report',
  'EXT-X-MAP': 'map',
  'EXT-X-PART': 'part',
  'EXT-X-PRELOAD-HINT': 'preload-hint',
  'EXT-X-SESSION-DATA': 'session-data',
};

/** Contexts whose URI is itself a playlist. */
export const PLAYLIST_CONTEXTS: ReadonlySet<UriContext> = new Set([
  'variant',
  'rendition',
  'iframe-playlist',
  'rendition-report',
]);

function parseTag(line: string, lineNo: number): TagLine {
  const colon = line.indexOf(':');
  const name = colon < 0 ? line.slice(1) : line.slice(1, colon);
  if (colon < 0) return { type: 'tag', name };
  const value = line.slice(colon + 1);
  if (ATTRIBUTE_TAGS.has(name)) return { type: 'tag', name, attributes: parseAttributeList(value, lineNo) };
  return { type: 'tag', name, value };
}

function parseLine(raw: string, lineNo: number): PlaylistLine {
  const line = raw.trim();
  if (line === '') return { type: 'blank' };
  if (line.startsWith('#EXT')) return parseTag(line, lineNo);
  if (line.startsWith('#')) return { type: 'comment', text: line.slice(1) };
  return { type: 'uri', uri: line };
}

/** Parses M3U8 text (UTF-8, optional BOM, LF or CRLF); throws PlaylistSyntaxError unless it starts with #EXTM3U. */
export function parsePlaylist(text: string): Playlist {
  const rawLines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (rawLines[rawLines.length - 1] === '') rawLines.pop();
  if (rawLines[0]?.trim() !== '#EXTM3U') throw new PlaylistSyntaxError('a playlist must start with #EXTM3U', 1);
  return { lines: rawLines.map((raw, i) => parseLine(raw, i + 1)) };
}

/** Every serialized line is checked: nothing from the origin or a rewrite may add or split a line. */
function serializeLine(line: PlaylistLine, index: number): string {
  let text: string;
  try {
    text = lineText(line);
  } catch (err) {
    if (err instanceof PlaylistSyntaxError && err.line === undefined)
      throw new PlaylistSyntaxError(err.rule, index + 1);
    throw err;
  }
  if (breaksLine(text))
    throw new PlaylistSyntaxError('a line cannot hold a line break or control character', index + 1);
  if (line.type === 'uri' && (text.startsWith('#') || text.trim() !== text || text === '')) {
    throw new PlaylistSyntaxError('a URI line cannot be empty, start with "#" or have surrounding spaces', index + 1);
  }
  return text;
}

function lineText(line: PlaylistLine): string {
  switch (line.type) {
    case 'blank':
      return '';
    case 'comment':
      return `#${line.text}`;
    case 'uri':
      return line.uri;
    case 'tag':
      if (line.attributes) return `#${line.name}:${serializeAttributeList(line.attributes)}`;
      return line.value === undefined ? `#${line.name}` : `#${line.name}:${line.value}`;
  }
}

/**
 * Serializes a playlist with LF line endings and a final newline. A rewritten playlist can be far larger
 * than the origin's (a 2-byte URI becomes a ~200-byte session URL): past `maxChars` it stops with a
 * PlaylistSyntaxError instead of building the rest (1 MiB of `a` lines made 105 MB per request).
 */
export function serializePlaylist(playlist: Playlist, maxChars = Infinity): string {
  const out: string[] = [];
  let total = 0;
  for (const [i, line] of playlist.lines.entries()) {
    const text = serializeLine(line, i);
    total += text.length + 1;
    if (total > maxChars) throw new PlaylistSyntaxError(`the rewritten playlist would pass ${maxChars} characters`);
    out.push(text);
  }
  return `${out.join('\n')}\n`;
}

/** How many times the origin's size limit a rewritten playlist may take (its URIs grow, nothing else does). */
const REWRITE_GROWTH_LIMIT = 8;

/**
 * Parses an origin's playlist, rewrites it with `rewrite` and serializes it, never past
 * REWRITE_GROWTH_LIMIT × `originMaxBytes`: refused before any URI is rewritten when each of its URIs
 * gaining `uriPrefixLength` characters would pass the bound (checkRewriteBudget), and again while
 * serializing. Throws PlaylistSyntaxError.
 */
export function rewriteBounded(
  text: string,
  originMaxBytes: number,
  uriPrefixLength: number,
  rewrite: (playlist: Playlist) => Playlist,
): string {
  const limit = originMaxBytes * REWRITE_GROWTH_LIMIT;
  const parsed = parsePlaylist(text);
  checkRewriteBudget(parsed, text.length, uriPrefixLength, limit);
  return serializePlaylist(rewrite(parsed), limit);
}

/**
 * Refuses, before any URI is rewritten, a playlist whose rewrite would pass `maxChars`: `textLength` of
 * the origin's text plus `perUri` more characters for each of its URIs (the URL prefix the rewrite puts
 * in front). Building 500,000 session URLs only for serializePlaylist to refuse them took 1.1 s.
 */
export function checkRewriteBudget(playlist: Playlist, textLength: number, perUri: number, maxChars: number): void {
  let uris = 0;
  for (const line of playlist.lines) {
    if (line.type === 'uri' || (line.type === 'tag' && line.attributes?.some((a) => a.name === 'URI'))) uris += 1;
  }
  if (textLength + uris * perUri > maxChars) {
    throw new PlaylistSyntaxError(`the rewritten playlist would pass ${maxChars} characters`);
  }
}

/** The value of attribute `name` on a tag line, or undefined. */
export function tagAttribute(tag: TagLine, name: string): string | undefined {
  return tag.attributes?.find((a) => a.name === name)?.value;
}

/** Whether the playlist is a multivariant (master) playlist. */
export function isMultivariant(playlist: Playlist): boolean {
  return playlist.lines.some((l) => l.type === 'tag' && (l.name === 'EXT-X-STREAM-INF' || l.name === 'EXT-X-MEDIA'));
}

/** Decides the new URI for one URI of the playlist; `tag` is the carrying tag (the preceding tag for URI lines). */
type UriRewriter = (uri: string, context: UriContext, tag: TagLine | undefined) => string;

function rewriteTag(tag: TagLine, rewrite: UriRewriter): TagLine {
  const context = URI_TAGS[tag.name];
  if (!context || !tag.attributes?.some((a) => a.name === 'URI')) return tag;
  return {
    ...tag,
    attributes: tag.attributes.map((a) => (a.name === 'URI' ? { ...a, value: rewrite(a.value, context, tag) } : a)),
  };
}

/**
 * Returns a copy with every URI passed through `rewrite`: the URI attribute of EXT-X-KEY, -SESSION-KEY,
 * -MAP, -MEDIA, -I-FRAME-STREAM-INF, -RENDITION-REPORT, -PART, -PRELOAD-HINT, -SESSION-DATA, and every URI
 * line (a variant after EXT-X-STREAM-INF, else a media segment).
 */
export function rewriteUris(playlist: Playlist, rewrite: UriRewriter): Playlist {
  let pendingStreamInf: TagLine | undefined;
  let lastTag: TagLine | undefined;
  const lines = playlist.lines.map((line): PlaylistLine => {
    if (line.type === 'tag') {
      lastTag = line;
      if (line.name === 'EXT-X-STREAM-INF') pendingStreamInf = line;
      return rewriteTag(line, rewrite);
    }
    if (line.type !== 'uri') return line;
    const context: UriContext = pendingStreamInf ? 'variant' : 'segment';
    const tag = pendingStreamInf ?? lastTag;
    pendingStreamInf = undefined;
    return { type: 'uri', uri: rewrite(line.uri, context, tag) };
  });
  return { lines };
}
