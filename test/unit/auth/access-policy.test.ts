import type { Request, Response } from 'express';
import { AccessPolicy, parseIpList, parseOriginList, parseTrustedProxies } from '../../../src/auth/access-policy';
import { AccessDeniedError } from '../../../src/auth/delivery-errors';
import { applyCors } from '../../../src/delivery/delivery-http';
import { requestClient } from '../../../src/http/client-info';
import type { AccessRules, ResourcePolicy } from '../../../src/store/records';
import type { PolicyRepository } from '../../../src/store/repositories';

function fakeReq(ip: string, headers: Record<string, string> = {}): Request {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { ip, get: (name: string) => lower[name.toLowerCase()] } as unknown as Request;
}
function fakeRes() {
  const headers: Record<string, string> = {};
  const res = { set: (k: string, v: string) => (headers[k] = v), vary: () => res };
  return { res: res as unknown as Response, headers };
}
async function reason(rules: AccessRules, req: Request, resource?: AccessRules): Promise<string | undefined> {
  const store: PolicyRepository | undefined = resource && {
    get: async (id) => ({ resourceId: id, ...resource, updatedAt: new Date() }) as ResourcePolicy,
    put: async () => undefined,
    delete: async () => true,
  };
  try {
    await new AccessPolicy(rules, store).check(requestClient(req), 'vod');
    return undefined;
  } catch (err) {
    if (err instanceof AccessDeniedError) return err.reason;
    throw err;
  }
}

describe('parsers', () => {
  it('accepts IPv4/IPv6 addresses and CIDRs and refuses the rest, naming the entry', () => {
    expect(parseIpList('10.0.0.0/8, 2001:db8::/32 ,192.0.2.1,::1')).toEqual([
      '10.0.0.0/8',
      '2001:db8::/32',
      '192.0.2.1',
      '::1',
    ]);
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'example.com', '10.0.0.1/8/1', '10.0.0.1/']) {
      expect(() => parseIpList(bad)).toThrow(bad);
    }
  });

  it('normalises origins and refuses paths or schemes other than http(s)', () => {
    expect(parseOriginList('https://Player.Example.com/, https://*.example.org:8443')).toEqual([
      'https://player.example.com',
      'https://*.example.org:8443',
    ]);
    for (const bad of ['player.example.com', 'https://example.com/path', 'ftp://example.com', 'https://*']) {
      expect(() => parseOriginList(bad)).toThrow();
    }
  });

  it('reads trusted proxies as a hop count or a list, never "true"', () => {
    expect(parseTrustedProxies('2')).toBe(2);
    expect(parseTrustedProxies('loopback, 10.0.0.0/8')).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => parseTrustedProxies('true')).toThrow();
  });
});

describe('AccessPolicy', () => {
  it.each([
    [{ denyIps: ['203.0.113.0/24'] }, '203.0.113.200', 'ip_denied'],
    [{ denyIps: ['203.0.113.0/24'] }, '203.0.114.1', undefined],
    [{ allowIps: ['2001:db8::/48'] }, '2001:db8:0:ffff::1', undefined],
    [{ allowIps: ['2001:db8::/48'] }, '2001:db8:1::1', 'ip_denied'],
    [{ allowIps: ['192.0.2.0/24'] }, '::ffff:192.0.2.7', undefined],
    [{ allowIps: ['192.0.2.0/24'] }, '', 'ip_denied'],
    [{ allowIps: ['10.0.0.0/8'], denyIps: ['10.1.0.0/16'] }, '10.1.2.3', 'ip_denied'],
  ])('rules %j, address %s → %s', async (rules, ip, expected) => {
    expect(await reason(rules, fakeReq(ip))).toBe(expected);
  });

  it('matches origins exactly or by wildcard subdomain, with default ports, from Origin or Referer', async () => {
    const rules = { allowOrigins: ['https://player.example.com', 'https://*.example.org'] };
    const ip = '192.0.2.1';
    expect(await reason(rules, fakeReq(ip, { Origin: 'https://player.example.com' }))).toBeUndefined();
    expect(await reason(rules, fakeReq(ip, { Origin: 'https://player.example.com:443' }))).toBeUndefined();
    expect(await reason(rules, fakeReq(ip, { Referer: 'https://a.example.org/x' }))).toBeUndefined();
    expect(await reason(rules, fakeReq(ip, { Referer: 'not a url' }))).toBe('origin_denied');
    expect(await reason(rules, fakeReq(ip, { Origin: 'https://example.org' }))).toBe('origin_denied');
    expect(await reason(rules, fakeReq(ip, { Origin: 'https://badexample.org' }))).toBe('origin_denied');
    expect(await reason(rules, fakeReq(ip))).toBeUndefined();
  });

  it('applies the resource policy on top of the global one', async () => {
    expect(await reason({}, fakeReq('192.0.2.1'), { denyIps: ['192.0.2.1'] })).toBe('ip_denied');
    expect(await reason({ denyIps: ['192.0.2.1'] }, fakeReq('192.0.2.1'), { allowIps: ['192.0.2.1'] })).toBe(
      'ip_denied',
    );
  });

  it('sets CORS headers only for an explicitly allowed Origin', async () => {
    const { res, headers } = fakeRes();
    // The policy decides; the HTTP layer writes what it decided.
    const allowed = await new AccessPolicy({ allowOrigins: ['https://p.example.com'] }).check(
      requestClient(fakeReq('192.0.2.1', { Origin: 'https://p.example.com' })),
      'vod',
    );
    applyCors(res, allowed.cors);
    expect(headers['Access-Control-Allow-Origin']).toBe('https://p.example.com');
    const other = fakeRes();
    const none = await new AccessPolicy({}).check(
      requestClient(fakeReq('192.0.2.1', { Origin: 'https://p.example.com' })),
      'vod',
    );
    applyCors(other.res, none.cors);
    expect(other.headers['Access-Control-Allow-Origin']).toBeUndefined();
  });
});
