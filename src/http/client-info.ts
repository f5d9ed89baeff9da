import type { Request } from 'express';
import type { ClientInfo } from '../auth/access-policy';

/** The client address Express derived (X-Forwarded-For only through trusted proxies), IPv4-mapped IPv6 unwrapped. */
export function clientIp(req: Request): string {
  const ip = req.ip ?? '';
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** What the delivery services need to know about the client: its address and the browser's Origin/Referer. */
export function requestClient(req: Request): ClientInfo {
  const origin = req.get('origin');
  const referer = req.get('referer');
  return {
    ip: clientIp(req),
    ...(origin === undefined ? {} : { origin }),
    ...(referer === undefined ? {} : { referer }),
  };
}
