/**
 * The one origin-matching rule, shared by the delivery access policy (`allowOrigins`) and the CORS
 * allow-list of `/clearkey/license` (`KEYPLANE_CORS_ORIGINS`).
 *
 * Accepted entry syntax: `http` or `https`, `://`, an optional `*.` wildcard, a host of dot-separated
 * labels (`[a-z0-9-]`, none empty: `player.example.com`, `127.0.0.1`, `localhost`), an optional
 * `:port`; lower-cased, trailing `/` dropped, no path. This is the stricter of the two patterns the
 * policy and CORS code used before (the CORS one also let empty labels such as `a..b` through); every
 * list is validated with it before use, so the looser one never matched anything this one refuses.
 *
 * Matching: same scheme, same port (default 443/80 filled in on both sides), host equal, or for
 * `*.host` any proper subdomain (`a.b.host`, not `host` itself, not `evilhost`). `null` and
 * unparsable origins match nothing.
 */
import { withoutTrailingSlashes } from '../util/trailing-slashes';

const ENTRY = /^(https?):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?$/;

/** The CORS headers a response should carry for one allowed origin (`Vary: Origin` unless `*`). */
export type CorsHeaders = Readonly<Record<string, string>>;

/** `Access-Control-Allow-Origin: origin`, plus `Vary: Origin` when the answer depends on the origin. */
export function corsAllow(origin: string): CorsHeaders {
  return origin === '*'
    ? { 'Access-Control-Allow-Origin': '*' }
    : { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
}

/** Validates one origin entry: `https://player.example.com`, `https://*.example.com`, optional port. */
export function checkOriginEntry(entry: string): string {
  const normalized = withoutTrailingSlashes(entry.toLowerCase());
  if (!ENTRY.test(normalized)) {
    throw new Error(`"${entry}" is not an origin like https://player.example.com or https://*.example.com`);
  }
  return normalized;
}

const defaultPort = (scheme: string) => (scheme === 'https' ? '443' : '80');

/** Whether `origin` (an `Origin` header value) matches one entry (validated and lower-cased). */
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

/** A list of origin entries, matched with `originMatches`. */
export class OriginMatcher {
  constructor(private readonly entries: readonly string[]) {}

  /** Whether any entry matches `origin`. */
  matches(origin: string): boolean {
    return this.entries.some((entry) => originMatches(entry, origin));
  }
}
