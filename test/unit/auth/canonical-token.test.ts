import crypto from 'node:crypto';
import { canonicalToken } from '../../../src/auth/canonical-token';
import {
  headerOrQueryToken,
  pathToken,
  rawQueryTokens,
  type TokenTransports,
} from '../../../src/http/token-transports';
import { UnauthorizedError } from '../../../src/errors';

const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const TOKEN = `${enc({ alg: 'HS256', kid: 'k1' })}.${enc({ sub: 'vod' })}.${crypto.randomBytes(32).toString('base64url')}`;
const [H, P, S] = TOKEN.split('.') as [string, string, string];

/** The last character of a 43-character signature carries 2 unused bits: another spelling of the same bytes. */
function flipUnusedBits(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(segment.slice(-1));
  return `${segment.slice(0, -1)}${alphabet[last ^ 1]}`;
}

function req(originalUrl: string, headers: Record<string, string> = {}): TokenTransports {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { originalUrl, get: (name) => lower[name.toLowerCase()] };
}

describe('canonicalToken', () => {
  it('accepts exactly a compact JWS', () => {
    expect(canonicalToken(TOKEN)).toBe(TOKEN);
  });

  it.each([
    ['padding', `${TOKEN}=`],
    ['a fourth segment', `${TOKEN}.x`],
    ['a trailing dot', `${TOKEN}.`],
    ['a leading space', ` ${TOKEN}`],
    ['a trailing space', `${TOKEN} `],
    ['a trailing newline', `${TOKEN}\n`],
    ['a trailing slash', `${TOKEN}/`],
    ['percent-encoding', `${TOKEN}%20`],
    ['standard base64', `${H}.${P}.${S.replace(/[-_]/g, '+')}+`],
    ['padding inside', `${H}=.${P}.${S}`],
    ['an empty segment', `${H}..${S}`],
    ['two segments', `${H}.${P}`],
    ['other unused bits in the signature', `${H}.${P}.${flipUnusedBits(S)}`],
    ['a non-string', ['a', 'b']],
    ['something huge', `${H}.${P}.${'A'.repeat(10_000)}`],
  ])('refuses %s with 401', (_name, value) => {
    expect(() => canonicalToken(value)).toThrow(UnauthorizedError);
  });

  it('never quotes the presented value', () => {
    try {
      canonicalToken(`${TOKEN}=`);
    } catch (err) {
      expect((err as Error).message).not.toContain(S);
    }
  });
});

describe('rawQueryTokens', () => {
  it('finds every token parameter, encoded names included, without decoding values', () => {
    expect(rawQueryTokens(`/k?a=1&token=${TOKEN}&%74oken=x%20&TOKEN&b=2`)).toEqual([TOKEN, 'x%20', '']);
    expect(rawQueryTokens('/k')).toEqual([]);
  });
});

describe('pathToken', () => {
  const url = `/playback/${TOKEN}/keys/vod/kid`;
  it('takes the literal path segment when it is the only transport', () => {
    expect(pathToken(req(url), TOKEN)).toBe(TOKEN);
  });

  it.each([
    ['a percent-encoded spelling', `/playback/%65${TOKEN.slice(1)}/keys/vod/kid`, TOKEN, {}],
    ['a token query parameter too', `${url}?token=${TOKEN}`, TOKEN, {}],
    ['an empty token query parameter', `${url}?token=`, TOKEN, {}],
    ['an Authorization header too', url, TOKEN, { authorization: `Bearer ${TOKEN}` }],
    ['a token cookie too', url, TOKEN, { cookie: `a=1; token=${TOKEN}` }],
    ['a decoded segment with a space', `/playback/${TOKEN}%20/keys/vod/kid`, `${TOKEN} `, {}],
  ])('refuses %s', (_name, originalUrl, segment, headers) => {
    expect(() => pathToken(req(originalUrl, headers), segment)).toThrow(UnauthorizedError);
  });
});

describe('headerOrQueryToken', () => {
  const bearer = (v: string) => ({ authorization: `Bearer ${v}` });
  it('takes a canonical bearer or one canonical query token', () => {
    expect(headerOrQueryToken(req('/keys/a/b', bearer(TOKEN)), TOKEN)).toBe(TOKEN);
    expect(headerOrQueryToken(req(`/keys/a/b?token=${TOKEN}`), undefined)).toBe(TOKEN);
  });

  it('leaves API keys (no dot) and x-api-key callers to other authenticators', () => {
    expect(headerOrQueryToken(req(`/keys/a/b?token=${TOKEN}`, bearer('kp_abc')), 'kp_abc')).toBeUndefined();
    expect(headerOrQueryToken(req(`/keys/a/b?token=${TOKEN}`, { 'x-api-key': 'k' }), undefined)).toBeUndefined();
    expect(headerOrQueryToken(req('/keys/a/b'), undefined)).toBeUndefined();
  });

  it('refuses a Bearer token sent in two Authorization headers (Node keeps the first)', () => {
    const twice = {
      ...req('/keys/a/b', bearer(TOKEN)),
      rawHeaders: ['Authorization', `Bearer ${TOKEN}`, 'authorization', 'Bearer x'],
    };
    expect(() => headerOrQueryToken(twice, TOKEN)).toThrow(UnauthorizedError);
    const once = { ...req('/keys/a/b', bearer(TOKEN)), rawHeaders: ['Authorization', `Bearer ${TOKEN}`] };
    expect(headerOrQueryToken(once, TOKEN)).toBe(TOKEN);
  });

  it.each([
    ['a bearer with padding', '/keys/a/b', bearer(`${TOKEN}=`), `${TOKEN}=`],
    ['a bearer and a query token', `/keys/a/b?token=${TOKEN}`, bearer(TOKEN), TOKEN],
    ['two query tokens', `/keys/a/b?token=${TOKEN}&token=${TOKEN}`, {}, undefined],
    ['an encoded query token', `/keys/a/b?token=%65${TOKEN.slice(1)}`, {}, undefined],
    ['a query token with a trailing space', `/keys/a/b?token=${TOKEN}%20`, {}, undefined],
    ['a query token with a plus', `/keys/a/b?token=${TOKEN}+`, {}, undefined],
    ['a query token and a token cookie', `/keys/a/b?token=${TOKEN}`, { cookie: `token=${TOKEN}` }, undefined],
  ])('refuses %s', (_name, originalUrl, headers, value) => {
    expect(() => headerOrQueryToken(req(originalUrl, headers), value)).toThrow(UnauthorizedError);
  });
});
