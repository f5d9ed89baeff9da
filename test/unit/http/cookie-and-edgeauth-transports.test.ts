import crypto from 'node:crypto';
import {
  cookieValues,
  edgeAuthToken,
  headerOrQueryToken,
  pathToken,
  type TokenTransports,
} from '../../../src/http/token-transports';
import { UnauthorizedError } from '../../../src/errors';

const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const TOKEN = `${enc({ alg: 'HS256', kid: 'k1' })}.${enc({ sub: 'vod' })}.${crypto.randomBytes(32).toString('base64url')}`;
const EDGE = `exp=1900000300~acl=/keys/*~hmac=${'ab'.repeat(32)}`;
const COOKIE = 'keyplane_token';

function req(originalUrl: string, headers: Record<string, string> = {}): TokenTransports {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { originalUrl, get: (name) => lower[name.toLowerCase()] };
}

describe('the playback-token cookie (KEYPLANE_TOKEN_COOKIE)', () => {
  it('is a transport of its own: the one canonical token in the configured cookie', () => {
    const r = req('/keys/a/b', { cookie: `theme=dark; ${COOKIE}=${TOKEN}` });
    expect(headerOrQueryToken(r, undefined, COOKIE)).toBe(TOKEN);
    // Without a configured name (or under another name) the cookie is not read.
    expect(headerOrQueryToken(r, undefined)).toBeUndefined();
    expect(headerOrQueryToken(r, undefined, 'other')).toBeUndefined();
  });

  it('may be named token, which then stops being a conflicting cookie', () => {
    expect(headerOrQueryToken(req('/keys/a/b', { cookie: `token=${TOKEN}` }), undefined, 'token')).toBe(TOKEN);
  });

  it.each([
    ['with a Bearer token', '/keys/a/b', { authorization: `Bearer ${TOKEN}` }, TOKEN],
    ['with an API key header', '/keys/a/b', { authorization: 'Bearer kp_x' }, 'kp_x'],
    ['with x-api-key', '/keys/a/b', { 'x-api-key': 'kp_x' }, undefined],
    ['with a query token', `/keys/a/b?token=${TOKEN}`, {}, undefined],
    ['twice', '/keys/a/b', { cookie: `${COOKIE}=${TOKEN}; ${COOKIE}=${TOKEN}` }, undefined],
    ['with a token cookie', '/keys/a/b', { cookie: `token=${TOKEN}; ${COOKIE}=${TOKEN}` }, undefined],
    ['non-canonical', '/keys/a/b', { cookie: `${COOKIE}=${TOKEN}=` }, undefined],
  ])('is a 401 %s', (_name, url, headers, bearer) => {
    const r = req(url, { cookie: `${COOKIE}=${TOKEN}`, ...headers });
    expect(() => headerOrQueryToken(r, bearer, COOKIE)).toThrow(UnauthorizedError);
  });

  it('makes a path token ambiguous (401)', () => {
    const url = `/playback/${TOKEN}/keys/vod/kid`;
    expect(pathToken(req(url), TOKEN, COOKIE)).toBe(TOKEN);
    expect(() => pathToken(req(url, { cookie: `${COOKIE}=${TOKEN}` }), TOKEN, COOKIE)).toThrow(UnauthorizedError);
  });

  it('reads cookie names case-insensitively and values trimmed', () => {
    expect(cookieValues(req('/', { cookie: ' A=1 ;b=2; a = 3; a=' }), ['a'])).toEqual(['1', '3']);
    expect(headerOrQueryToken(req(`/keys/a/b?token=${TOKEN}`, { cookie: `${COOKIE}=` }), undefined, COOKIE)).toBe(
      TOKEN,
    );
  });
});

describe('edgeAuthToken', () => {
  it('takes the one __token__ or hdnts query parameter or cookie, raw or percent-encoded once', () => {
    expect(edgeAuthToken(req(`/keys/a/b?__token__=${EDGE}`), '__token__')).toBe(EDGE);
    expect(edgeAuthToken(req(`/keys/a/b?hdnts=${encodeURIComponent(EDGE)}`), '__token__')).toBe(EDGE);
    expect(edgeAuthToken(req('/keys/a/b', { cookie: `__token__=${EDGE}` }), '__token__')).toBe(EDGE);
    expect(edgeAuthToken(req('/keys/a/b', { cookie: `cdn=${EDGE}` }), 'cdn')).toBe(EDGE);
    expect(edgeAuthToken(req('/keys/a/b?x=1'), '__token__')).toBeUndefined();
  });

  it.each([
    ['two query parameters', `/keys/a/b?__token__=${EDGE}&hdnts=${EDGE}`, {}],
    ['query and cookie', `/keys/a/b?__token__=${EDGE}`, { cookie: `__token__=${EDGE}` }],
    ['an Authorization header too', `/keys/a/b?__token__=${EDGE}`, { authorization: 'Bearer kp_x' }],
    ['x-api-key too', `/keys/a/b?__token__=${EDGE}`, { 'x-api-key': 'kp_x' }],
    ['a playback token query too', `/keys/a/b?__token__=${EDGE}&token=${TOKEN}`, {}],
    ['a playback token cookie too', `/keys/a/b?__token__=${EDGE}`, { cookie: `${COOKIE}=${TOKEN}` }],
    ['a bad escape', '/keys/a/b?__token__=%zz', {}],
  ])('is a 401 with %s', (_name, url, headers) => {
    expect(() => edgeAuthToken(req(url, headers), '__token__', COOKIE)).toThrow(UnauthorizedError);
  });
});
