import type { Request, Response } from 'express';
import type { CorsHeaders } from '../auth/origin-matcher';
import { requestClient } from '../http/client-info';
import { recordEvents } from '../http/request-audit';
import { credentialedCors } from './cors';
import type { Delivered, DeliveryOutcome } from './key-delivery';
import type { DeliveryContext, DeliveryGrant } from './grant';

/** The headers of every key response: raw bytes that no cache, proxy or browser may keep. */
const KEY_HEADERS = {
  'Content-Type': 'application/octet-stream',
  'Content-Transfer-Encoding': 'binary',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
} as const;

/**
 * The one place key bytes are written: 16 raw bytes the way HLS players and keyserver proxies expect
 * them. One `writeHead` (headers set earlier, e.g. X-Request-Id or CORS, are kept): the hottest route
 * skips Express's per-header `res.set` work.
 */
function sendKeyBytes(res: Response, key: Buffer): void {
  res.writeHead(200, { ...KEY_HEADERS, 'Content-Length': key.length });
  res.end(key);
}

/**
 * Sends the one key of a single-key delivery (`/keys`, `/playback`, `/secure`). A key fetched by a
 * cross-site player for an origin the policy lists may be read with credentials (its cookie).
 */
export function sendDeliveredKey(res: Response, delivered: Delivered): void {
  const [first] = delivered.keys;
  if (!first) throw new Error('a single-key delivery delivered no key');
  const origin = res.getHeader('Access-Control-Allow-Origin');
  applyCors(res, credentialedCors(typeof origin === 'string' ? { 'Access-Control-Allow-Origin': origin } : undefined));
  sendKeyBytes(res, first.key);
}

/** Writes CORS headers a service decided on (`Vary` is appended to, not replaced). */
export function applyCors(res: Response, headers: CorsHeaders | undefined): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'vary') res.vary(value);
    else res.set(name, value);
  }
}

/** The service-side view of a delivery request: its route (from the manifest), the grant, the client. */
export function deliveryContext(req: Request, route: string, grant: DeliveryGrant): DeliveryContext {
  return { route, grant, client: requestClient(req) };
}

/**
 * Records the outcome's audit events (before any key leaves), then throws a refusal's error or
 * writes the CORS headers of a delivery and returns it.
 */
export async function settle(req: Request, res: Response, outcome: DeliveryOutcome): Promise<Delivered> {
  await recordEvents(req, res, outcome.events);
  if (!outcome.ok) throw outcome.error;
  applyCors(res, outcome.cors);
  return outcome;
}

/** Query parameters that carry a player's credential (a playback or EdgeAuth token): never sent on. */
const CREDENTIAL_PARAMS = ['token', '__token__', 'hdnts'];

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw; // a malformed escape is kept as sent
  }
}

/**
 * A request's query as the origin may see it: the raw pairs (their encoding kept, so an origin's own signed
 * query still verifies) minus every credential parameter and the `drop` names (the deployment's renamed
 * EdgeAuth token among them), matched case-insensitively. Values are not judged: an origin's own signed
 * segment URLs (`?auth=eyJ…`, `?hdnea=…~hmac=…`) come back through sessions and must reach it intact.
 */
export function queryForOrigin(originalUrl: string, drop: readonly string[] = []): string {
  const at = originalUrl.indexOf('?');
  if (at < 0) return '';
  const banned = new Set([...CREDENTIAL_PARAMS, ...drop].map((n) => n.toLowerCase()));
  const kept = originalUrl
    .slice(at + 1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const name = decoded(eq < 0 ? pair : pair.slice(0, eq));
      return pair !== '' && !banned.has(name.trim().toLowerCase());
    });
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}
