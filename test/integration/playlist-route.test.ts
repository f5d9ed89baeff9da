import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { binaryParser as binary } from '../helpers/binary';
import { responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { expectMatchesSpec } from '../helpers/openapi';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const SECRET = crypto.randomBytes(32);
const RESOURCE = 'several-keys-1';
const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const SPEC_PATH = '/playback/{token}/hls/{resourceId}/{path}';

/** An HS256 playback JWT built with node:crypto only (independent of the code under test). */
function jwt(payload: object): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(payload)}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
const token = (over: object = {}) =>
  jwt({ sub: RESOURCE, aud: 'keyplane-playback', jti: crypto.randomUUID(), iat: now(), exp: now() + 60, ...over });

const MASTER = [
  '#EXTM3U',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English, main",URI="audio/en.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="a"',
  'video/index.m3u8?v=2',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="video/iframes.m3u8"',
].join('\n');

const MEDIA = [
  '#EXTM3U',
  '#EXT-X-TARGETDURATION:4',
  '#EXT-X-MAP:URI="init.mp4"',
  `#EXT-X-KEY:METHOD=AES-128,URI="http://keys.test/keys/${RESOURCE}/${KID_A}",IV=0x0102`,
  '#EXTINF:4,',
  'seg0.ts',
  `#EXT-X-KEY:IV=0x0304,URI="../../keys/${RESOURCE}/${KID_B}",METHOD=AES-128`,
  '#EXTINF:4,',
  '../shared/seg1.ts?sig=a,b',
  '#EXT-X-ENDLIST',
].join('\n');

/** The "origin": playlists by path, plus a few broken answers. */
function originHandler(seen: string[]) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '';
    seen.push(url);
    seenHeaders.push(req.headers);
    if (hostile(url, res)) return;
    const path = url.split('?')[0] as string;
    const m3u8 = (body: string) => res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(body);
    if (path === `/vod/${RESOURCE}/master.m3u8`) return m3u8(MASTER);
    if (path === `/vod/${RESOURCE}/video/index.m3u8`) return m3u8(MEDIA);
    if (path === `/vod/${RESOURCE}/big.m3u8`) return m3u8(`#EXTM3U\n${'#EXTINF:1,\nx.ts\n'.repeat(400)}`);
    if (path === `/vod/${RESOURCE}/html.m3u8`) return res.writeHead(200).end('<html>hi</html>');
    if (path === `/vod/${RESOURCE}/nokid.m3u8`) return m3u8('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n');
    if (path === `/vod/${RESOURCE}/slow.m3u8`) return void setTimeout(() => m3u8(MEDIA), 1500).unref();
    res.writeHead(path.endsWith('boom.m3u8') ? 500 : 404).end();
  };
}

/** Origin answers that try to break out: other origins, line breaks, quotes. */
function hostile(url: string, res: http.ServerResponse): boolean {
  const path = url.split('?')[0] as string;
  const m3u8 = (body: string) => res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(body);
  const routes: Record<string, () => void> = {
    [`/vod/${RESOURCE}/away.m3u8`]: () => res.writeHead(302, { location: `${elsewhereUrl}/internal.m3u8` }).end(),
    [`/vod/${RESOURCE}/here.m3u8`]: () => res.writeHead(302, { location: `/vod/${RESOURCE}/video/index.m3u8` }).end(),
    [`/vod/${RESOURCE}/cr.m3u8`]: () => m3u8('#EXTM3U\n# innocent\r#EXT-X-KEY:METHOD=NONE\n#EXTINF:4,\ns.ts\n'),
    [`/vod/${RESOURCE}/nel.m3u8`]: () => m3u8('#EXTM3U\n#EXT-X-MAP:URI="i.mp4",X-A="a\u2028#EXT-X-ENDLIST"\n'),
    [`/vod/${RESOURCE}/quotes.m3u8`]: () =>
      m3u8(`#EXTM3U\n#EXT-X-MAP:URI="in it.mp4?a=b,c"\n#EXTINF:4,\nseg "1".ts?x=",URI="evil\n#EXTINF:4,\n\n`),
    [`/vod/${RESOURCE}/echo.m3u8`]: () => m3u8(`#EXTM3U\n#EXT-X-MAP:URI=""\n#EXTINF:4,\n?\n`),
  };
  const route = routes[path];
  route?.();
  return route !== undefined;
}

let origin: http.Server;
let originUrl: string;
let elsewhere: http.Server;
let elsewhereUrl: string;
const elsewhereSeen: string[] = [];
const seenHeaders: http.IncomingHttpHeaders[] = [];
const seen: string[] = [];
let t: TestApp;
let keys: Map<string, Buffer>;

beforeAll(async () => {
  elsewhere = http.createServer((req, res) => void (elsewhereSeen.push(req.url ?? ''), res.end('#EXTM3U\n')));
  await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
  origin = http.createServer(originHandler(seen));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  t = await makeTestApp({
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SECRET.toString('base64')}`,
    KEYPLANE_ORIGIN_URL: `${originUrl}/vod/{resourceId}`,
    KEYPLANE_ORIGIN_TIMEOUT_MS: '300',
    KEYPLANE_ORIGIN_MAX_BYTES: '2048',
  });
  const res = await request(t.app)
    .post('/copyProtection')
    .set('x-api-key', t.encoderKey)
    .set('Content-Type', 'application/xml')
    .send(fixture('v1/hls-several-keys.xml'));
  keys = new Map([...responseKeys(res.text)].map(([kid, k]) => [kid, k.key]));
});
afterAll(async () => {
  await t.close();
  for (const server of [origin, elsewhere]) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

const get = (path: string) => request(t.app).get(path);

describe('GET /playback/{token}/hls/{resourceId}/{path}', () => {
  it('rewrites a master playlist: renditions, variants and I-frame playlists go through us', async () => {
    const tok = token();
    const res = await get(`/playback/${tok}/hls/${RESOURCE}/master.m3u8`);
    expect(res.status).toBe(200);
    expectMatchesSpec('get', SPEC_PATH, res);
    expect(res.headers['content-type']).toMatch(/^application\/vnd\.apple\.mpegurl/);
    expect(res.headers['cache-control']).toBe('no-store');
    const base = `http://keys.test/playback/${tok}/hls/${RESOURCE}`;
    expect(res.text).toBe(
      [
        '#EXTM3U',
        `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English, main",URI="${base}/audio/en.m3u8"`,
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="a"',
        `${base}/video/index.m3u8?v=2`,
        `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="${base}/video/iframes.m3u8"`,
        '',
      ].join('\n'),
    );
  });

  it('rewrites keys to tokenized key URLs that deliver the key, and segments to the origin; forwards the query', async () => {
    const tok = token();
    const res = await get(`/playback/${tok}/hls/${RESOURCE}/video/index.m3u8?v=2`);
    expect(res.status).toBe(200);
    expect(seen).toContain(`/vod/${RESOURCE}/video/index.m3u8?v=2`);
    const keyBase = `http://keys.test/playback/${tok}/keys/${RESOURCE}`;
    expect(res.text).toContain(`#EXT-X-MAP:URI="${originUrl}/vod/${RESOURCE}/video/init.mp4"`);
    expect(res.text).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="${keyBase}/${KID_A}",IV=0x0102`);
    expect(res.text).toContain(`#EXT-X-KEY:IV=0x0304,URI="${keyBase}/${KID_B}",METHOD=AES-128`);
    expect(res.text).toContain(`\n${originUrl}/vod/${RESOURCE}/video/seg0.ts\n`);
    expect(res.text).toContain(`\n${originUrl}/vod/${RESOURCE}/shared/seg1.ts?sig=a,b\n`);
    for (const kid of [KID_A, KID_B]) {
      const key = await get(`/playback/${tok}/keys/${RESOURCE}/${kid}`).buffer(true).parse(binary);
      expect(key.status).toBe(200);
      expect(Buffer.compare(key.body as Buffer, keys.get(kid) as Buffer)).toBe(0);
    }
  });

  it('never sends a player credential on to the origin: EdgeAuth names are dropped, the rest kept as sent', async () => {
    const tok = token();
    const res = await get(
      `/playback/${tok}/hls/${RESOURCE}/video/index.m3u8?v=2&__token__=exp%3D1~hmac%3Dab&HDNTS=x&sig=a%2Cb`,
    );
    expect(res.status).toBe(200);
    expect(seen).toContain(`/vod/${RESOURCE}/video/index.m3u8?v=2&sig=a%2Cb`);
    expect(seen.join('\n')).not.toMatch(/__token__|hdnts|hmac/i);
    const redirect = await get(`/playback/${tok}/hls/${RESOURCE}/video/seg0.ts?hdnts=x&x=1`);
    expect(redirect.headers.location).toBe(`${originUrl}/vod/${RESOURCE}/video/seg0.ts?x=1`);
  });

  it('redirects non-playlist paths to the origin', async () => {
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/video/seg0.ts?x=1`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${originUrl}/vod/${RESOURCE}/video/seg0.ts?x=1`);
  });

  it.each([
    ['a token for another resource', () => token({ sub: 'other-vod' }), 403, 'token_resource_mismatch'],
    ['an expired token', () => token({ iat: now() - 120, exp: now() - 60 }), 410, undefined],
    ['a malformed token', () => 'not-a-jwt', 401, undefined],
    ['a token with a bad signature', () => `${token().slice(0, -4)}AAAA`, 401, undefined],
  ])('answers %s with %i', async (_name, make, status, reason) => {
    const res = await get(`/playback/${make()}/hls/${RESOURCE}/master.m3u8`);
    expect(res.status).toBe(status);
    expect(res.body.reason).toBe(reason);
    expect(res.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', SPEC_PATH, res);
  });

  it.each([
    ['a .. segment', 'video/../../other/master.m3u8'],
    ['an encoded .. segment', 'video/%2E%2E/%2e%2e/x.m3u8'],
    ['an encoded slash', '..%2Fother%2Fmaster.m3u8'],
    ['an encoded backslash', 'a%5C..%5Cx.m3u8'],
    ['an empty segment', 'video//index.m3u8'],
  ])('refuses %s in the path with 400, without asking the origin', async (_name, path) => {
    const before = seen.length;
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/${path}`);
    expect(res.status).toBe(400);
    expectMatchesSpec('get', SPEC_PATH, res);
    expect(seen.length).toBe(before);
  });

  it.each([
    ['an origin error status', 'boom.m3u8', /Origin answered 500/],
    ['a missing playlist', 'missing.m3u8', /Origin answered 404/],
    ['a playlist over the size cap', 'big.m3u8', /larger than 2048 bytes/],
    ['a slow origin', 'slow.m3u8', /did not answer within 300 ms/],
    ['something that is not a playlist', 'html.m3u8', /invalid playlist.*#EXTM3U/],
    ['a key URI without a KID', 'nokid.m3u8', /names no KID/],
  ])('answers 502 with a message for %s', async (_name, path, message) => {
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/${path}`);
    expect(res.status).toBe(502);
    expect(res.body.error).toBe('bad_gateway');
    expect(res.body.message).toMatch(message);
    expect(res.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', SPEC_PATH, res);
  });
});

describe('KEYPLANE_ORIGIN_URL', () => {
  it('is off (501) unless configured', async () => {
    const plain = await makeTestApp();
    try {
      const res = await request(plain.app).get(`/playback/${token()}/hls/${RESOURCE}/master.m3u8`);
      expect(res.status).toBe(501);
      expect(res.body.message).toMatch(/KEYPLANE_ORIGIN_URL/);
      expectMatchesSpec('get', SPEC_PATH, res);
    } finally {
      await plain.close();
    }
  });

  it.each([
    ['http://origin.test/vod/', /must contain \{resourceId\}/],
    ['ftp://origin.test/{resourceId}/', /must use http\(s\)/],
    ['origin.test/{resourceId}/', /absolute URL/],
    ['http://origin.test/{resourceId}/?a=1', /query or fragment/],
    ['http://origin.test/{resourceId}/{kid}/', /only the \{resourceId\} placeholder/],
  ])('refuses %s at start', (value, message) => {
    expect(() => loadConfig({ KEYPLANE_ORIGIN_URL: value })).toThrow(message);
    expect(() => loadConfig({ KEYPLANE_ORIGIN_URL: value })).toThrow(/^KEYPLANE_ORIGIN_URL: /);
  });

  it('adds the trailing slash and validates the timeout and size cap', () => {
    expect(loadConfig({ KEYPLANE_ORIGIN_URL: 'https://o.test/vod/{resourceId}' }).origin).toEqual({
      urlTemplate: 'https://o.test/vod/{resourceId}/',
      timeoutMs: 5000,
      maxBytes: 1048576,
    });
    expect(() =>
      loadConfig({ KEYPLANE_ORIGIN_URL: 'https://o.test/{resourceId}/', KEYPLANE_ORIGIN_TIMEOUT_MS: '5' }),
    ).toThrow(/KEYPLANE_ORIGIN_TIMEOUT_MS/);
  });
});

describe('hostile origins, query strings and callers', () => {
  const lineKinds = (text: string) =>
    text.split('\n').map((l) => (l.startsWith('#') ? l.split(/[:,]/)[0] : l === '' ? '' : 'uri'));

  it('follows a same-origin redirect, and refuses one to another origin without naming it (502)', async () => {
    expect((await get(`/playback/${token()}/hls/${RESOURCE}/here.m3u8`)).status).toBe(200);
    const before = elsewhereSeen.length;
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/away.m3u8`);
    expect(res.status).toBe(502);
    expect(res.body.message).toBe('Origin redirected the playlist to another origin');
    expect(res.text).not.toContain(new URL(elsewhereUrl).port);
    expect(res.text).not.toContain('internal');
    expect(elsewhereSeen.length).toBe(before);
    expectMatchesSpec('get', SPEC_PATH, res);
  });

  it('answers an unreachable origin with a generic 502 naming no host, port or cause', async () => {
    // Port 9 (discard): nothing listens there, and no ephemeral port of this run can land on it.
    const port = 9;
    const dead = await makeTestApp({
      KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SECRET.toString('base64')}`,
      KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${port}/vod/{resourceId}`,
    });
    try {
      const res = await request(dead.app).get(`/playback/${token()}/hls/${RESOURCE}/master.m3u8`);
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ error: 'bad_gateway', message: 'Origin could not be reached' });
      expect(res.text).not.toMatch(new RegExp(`${port}|127\\.0\\.0\\.1|ECONNREFUSED`));
    } finally {
      await dead.close();
    }
  });

  it.each([
    ['a lone CR in a comment', 'cr.m3u8'],
    ['a line separator in an attribute', 'nel.m3u8'],
  ])('refuses an origin playlist with %s (502), quoting none of it', async (_name, path) => {
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/${path}`);
    expect(res.status).toBe(502);
    expect(res.body.message).toMatch(
      /^Origin sent an invalid playlist \(line 2\): .*(a line|attribute X-A) cannot hold/,
    );
    expect(res.text).not.toMatch(/EXT-X-KEY|EXT-X-ENDLIST|innocent/);
  });

  it('keeps quotes, commas and spaces from the origin inside their URI, percent-encoded', async () => {
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/quotes.m3u8`);
    expect(res.status).toBe(200);
    const base = `${originUrl}/vod/${RESOURCE}`;
    expect(res.text).toBe(
      [
        '#EXTM3U',
        `#EXT-X-MAP:URI="${base}/in%20it.mp4?a=b,c"`,
        '#EXTINF:4,',
        `${base}/seg%20%221%22.ts?x=%22,URI=%22evil`,
        '#EXTINF:4,',
        '',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['a quote and a new attribute', '?a=%22,URI=%22http://evil.test/%22'],
    ['an encoded line break and a tag', '?a=%0D%0A%23EXT-X-KEY:METHOD=NONE'],
    ['raw quotes and commas', '?a=",URI="x",b'],
    ['a line separator', '?a=%E2%80%A8b'],
  ])('keeps a hostile query string (%s) from adding a line or an attribute', async (_name, query) => {
    const res = await get(`/playback/${token()}/hls/${RESOURCE}/echo.m3u8${query}`);
    expect(res.status).toBe(200);
    expect(lineKinds(res.text)).toEqual(['#EXTM3U', '#EXT-X-MAP', '#EXTINF', 'uri', '']);
    expect(res.text).not.toMatch(/[\r\u2028]|"[^"\n]*"[^\n]*"/);
  });

  it('forwards nothing of the caller to the origin, and puts no token in a Location', async () => {
    const tok = token();
    const before = seen.length;
    const res = await get(`/playback/${tok}/hls/${RESOURCE}/video/index.m3u8?v=3`)
      .set('Cookie', 'session=abc')
      .set('x-api-key', t.keyserverKey)
      .set('X-Forwarded-For', '192.0.2.1');
    expect(res.status).toBe(200);
    expect(seen.slice(before)).toEqual([`/vod/${RESOURCE}/video/index.m3u8?v=3`]);
    const headers = seenHeaders[seenHeaders.length - 1] as http.IncomingHttpHeaders;
    expect(headers.cookie).toBeUndefined();
    expect(headers['x-api-key']).toBeUndefined();
    expect(headers.authorization).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(tok);
    const redirect = await get(`/playback/${tok}/hls/${RESOURCE}/video/seg0.ts?x=1`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).not.toContain(tok);
    expect(redirect.headers.location).not.toContain(tok.split('.')[2]);
  });

  it.each([
    ['a token query parameter', (tok: string) => get(`/playback/${tok}/hls/${RESOURCE}/master.m3u8?token=${tok}`)],
    [
      'an Authorization header',
      (tok: string) => get(`/playback/${tok}/hls/${RESOURCE}/master.m3u8`).set('Authorization', `Bearer ${tok}`),
    ],
    ['padding on the token', (tok: string) => get(`/playback/${tok}=/hls/${RESOURCE}/master.m3u8`)],
    ['an encoded space after the token', (tok: string) => get(`/playback/${tok}%20/hls/${RESOURCE}/master.m3u8`)],
  ])('refuses %s with 401 and never asks the origin', async (_name, send) => {
    const tok = token();
    const before = seen.length;
    const res = await send(tok);
    expect(res.status).toBe(401);
    expect(seen.length).toBe(before);
    expect(res.text).not.toContain(tok.split('.')[2]);
  });
});
