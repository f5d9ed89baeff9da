import net from 'node:net';
import type { AccessRules } from '../store/records';
import type { PolicyRepository } from '../store/repositories';
import { AccessDeniedError } from './delivery-errors';
import { checkOriginEntry, corsAllow, OriginMatcher, type CorsHeaders } from './origin-matcher';

/** Origin entries are validated by the one origin rule (see origin-matcher.ts); re-exported for the list parsers' callers. */
export { checkOriginEntry };

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const MAX_ENTRIES = 100;

/** Validates one IP or CIDR entry (IPv4 or IPv6); throws Error naming it. */
export function checkIpEntry(entry: string): string {
  const [address, prefix, extra] = entry.split('/');
  const family = net.isIP(address ?? '');
  const max = family === 6 ? 128 : 32;
  const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
  if (family === 0 || !prefixOk || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR`);
  return entry;
}

function list(text: string, check: (e: string) => string): string[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length > MAX_ENTRIES) throw new Error(`at most ${MAX_ENTRIES} entries`);
  return entries.map(check);
}

/** Parses a comma-separated IP/CIDR list (`KEYPLANE_DELIVERY_ALLOW_IPS`, `..._DENY_IPS`). */
export const parseIpList = (text: string): string[] => list(text, checkIpEntry);
/** Parses a comma-separated origin list (`KEYPLANE_DELIVERY_ALLOW_ORIGINS`). */
export const parseOriginList = (text: string): string[] => list(text, checkOriginEntry);

/**
 * Parses `KEYPLANE_TRUSTED_PROXIES` into Express's `trust proxy` value: a hop count, or addresses,
 * CIDRs and the names loopback / linklocal / uniquelocal. `true` (trust everyone) is refused.
 */
export function parseTrustedProxies(text: string): number | string[] {
  if (/^\d{1,2}$/.test(text.trim())) return Number(text.trim());
  return list(text, (e) => (PROXY_NAMES.includes(e) ? e : checkIpEntry(e)));
}

function blockList(entries: string[]): net.BlockList {
  const bl = new net.BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) bl.addAddress(address, type);
    else bl.addSubnet(address, Number(prefix), type);
  }
  return bl;
}

function matchesIp(entries: string[], ip: string): boolean {
  const family = net.isIP(ip);
  return family !== 0 && blockList(entries).check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** Who is asking, as the HTTP layer saw it: the client address and the browser's `Origin` / `Referer`. */
export interface ClientInfo {
  /** The client address (X-Forwarded-For only through trusted proxies), IPv4-mapped IPv6 unwrapped; '' when unknown. */
  ip: string;
  /** The `Origin` header, as sent. */
  origin?: string;
  /** The `Referer` header, as sent. */
  referer?: string;
}

/** What an allowed request may add to its response: CORS headers for an explicitly allowed `Origin`. */
export interface AccessDecision {
  cors?: CorsHeaders;
}

/** The origin of the page that asked: `Origin`, else the origin of `Referer`; undefined when neither is sent. */
function clientOrigin(client: ClientInfo): string | undefined {
  if (client.origin !== undefined) return client.origin.toLowerCase();
  if (client.referer === undefined) return undefined;
  try {
    return new URL(client.referer).origin.toLowerCase();
  } catch {
    return 'null';
  }
}

const matchesOrigin = (entries: readonly string[], origin: string) => new OriginMatcher(entries).matches(origin);

function checkRules(rules: AccessRules, ip: string, origin: string | undefined, scope: string): void {
  if (rules.denyIps?.length && matchesIp(rules.denyIps, ip)) {
    throw new AccessDeniedError('ip_denied', `Client address is denied by the ${scope} delivery policy`);
  }
  if (rules.allowIps?.length && !matchesIp(rules.allowIps, ip)) {
    throw new AccessDeniedError('ip_denied', `Client address is not allowed by the ${scope} delivery policy`);
  }
  if (origin !== undefined && rules.allowOrigins?.length && !matchesOrigin(rules.allowOrigins, origin)) {
    throw new AccessDeniedError('origin_denied', `Origin/Referer is not allowed by the ${scope} delivery policy`);
  }
}

/**
 * Who may fetch keys, checked on every delivery route: global rules from config, then the
 * resource's own rules (when the store keeps them). Deny lists win; allow lists, when set, must
 * match. Origin rules apply to requests that send `Origin` or `Referer` (browsers); requests with
 * neither (keyserver proxies, native players) are judged by address only.
 */
export class AccessPolicy {
  constructor(
    private readonly global: AccessRules,
    private readonly store?: PolicyRepository,
  ) {}

  /**
   * Throws a 403 with reason `ip_denied` / `origin_denied`; when allowed, the CORS headers for an
   * `Origin` the rules list explicitly (the caller writes them; the policy never touches a response).
   */
  async check(client: ClientInfo, resourceId: string): Promise<AccessDecision> {
    const origin = clientOrigin(client);
    checkRules(this.global, client.ip, origin, 'global');
    const own = await this.store?.get(resourceId);
    if (own) checkRules(own, client.ip, origin, 'resource');
    const explicitlyAllowed = [...(this.global.allowOrigins ?? []), ...(own?.allowOrigins ?? [])];
    if (origin !== undefined && client.origin !== undefined && matchesOrigin(explicitlyAllowed, origin)) {
      return { cors: corsAllow(client.origin) };
    }
    return {};
  }
}
