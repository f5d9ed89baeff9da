import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { akamaiAclToken } from '../helpers/akamai-edgeauth';
import { makeTestApp, type TestApp } from '../helpers/test-app';

// The session entry (`GET /sessions/hls/{resourceId}/{path}`) authorizes through the same authenticators as
// /keys: an EdgeAuth token from akamai-edgeauth opens a session when its ACL covers the path and its key's
// tenant owns the resource; the token never reaches the origin.

const KEY = crypto.randomBytes(16).toString('hex');
const PLAYLIST = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg0.ts\n#EXT-X-ENDLIST\n';
const originUrls: string[] = [];
let origin: http.Server;
let t: TestApp;

const edge = (acl: string) => {
  const now = Math.floor(Date.now() / 1000);
  return akamaiAclToken({ key: KEY, startTime: now - 5, endTime: now + 300 }, acl);
};

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    originUrls.push(`${req.url} ${JSON.stringify(req.headers)}`);
    if (!(req.url ?? '').split('?')[0]?.endsWith('/index.m3u8')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(PLAYLIST);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  t = await makeTestApp({
    KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/vod/{resourceId}/`,
    KEYPLANE_EDGEAUTH_KEY: KEY,
    KEYPLANE_EDGEAUTH_TENANT: 'acme',
  });
  await t.deps.staticKeys.create({ resourceId: 'acme-live' }, 'acme');
  await t.deps.staticKeys.create({ resourceId: 'default-live' }, 'default');
});
afterAll(async () => {
  await t.close();
  origin.closeAllConnections();
  await new Promise<void>((r) => origin.close(() => r()));
});

describe('EdgeAuth tokens on the session entry', () => {
  it('opens a session from the query or a cookie, and never forwards the token to the origin', async () => {
    const token = edge('/sessions/hls/acme-live/*');
    const byQuery = await request(t.app).get(`/sessions/hls/acme-live/index.m3u8?__token__=${token}`);
    expect(byQuery.status).toBe(200);
    expect(byQuery.text).toMatch(/#EXT-X-KEY:METHOD=AES-128,URI="[^"]*\/sessions\/[^"]+\/key"/);
    const byCookie = await request(t.app).get('/sessions/hls/acme-live/index.m3u8').set('Cookie', `hdnts=${token}`);
    expect(byCookie.status).toBe(200);
    expect(originUrls.length).toBeGreaterThanOrEqual(2);
    expect(originUrls.join('\n')).not.toContain(token.slice(token.indexOf('hmac=') + 5));
  });

  it('refuses a path outside the ACL and another tenant, even with ACL /*', async () => {
    const keysOnly = await request(t.app).get(`/sessions/hls/acme-live/index.m3u8?__token__=${edge('/keys/*')}`);
    expect(keysOnly.status).toBe(403);
    expect(keysOnly.body.reason).toBe('edgeauth_acl_denied');
    const other = await request(t.app).get(`/sessions/hls/default-live/index.m3u8?__token__=${edge('/*')}`);
    expect(other.status).toBe(403);
    expect(other.body.reason).toBe('resource_not_yours');
  });
});
