import crypto from 'node:crypto';
import request from 'supertest';
import type { RouteTable } from '../../src/domain/route-spec';
import { routeTableOf } from '../../src/http/feature-manifest';
import { FEATURE_MANIFESTS } from '../../src/http/manifests';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const CLIENT_ID = '2675';
const SECRET = 'exact-routes-secret-0123';
const RESOURCE = 'exact-routes-1';

function hmacToken(resourceId: string, expires: number): string {
  return crypto.createHmac('sha256', SECRET).update(`${CLIENT_ID}_${resourceId}_${expires}_`).digest('base64url');
}

/**
 * Spellings of one path that must not reach its route: case of each literal segment, a trailing slash,
 * a doubled slash, a percent-encoded letter of the first literal.
 */
function variants(path: string, literals: readonly string[], rest = false): string[] {
  const out = [
    `${path}/`,
    `/${path}`,
    path.replace('/', '//'),
    path.replace(/\/([a-z])/, (_, c: string) => `/%${c.charCodeAt(0).toString(16)}`),
  ];
  for (const literal of literals) {
    out.push(path.replace(`/${literal}`, `/${literal.toUpperCase()}`));
    out.push(path.replace(`/${literal}`, `/${literal[0]?.toUpperCase()}${literal.slice(1)}`));
  }
  // A route whose last parameter spans segments (the playlist's {path}) takes a trailing slash as part of it.
  return [...new Set(out)].filter((v) => v !== path && !(rest && v === `${path}/`));
}

let t: TestApp;
let kid: string;
let token: string;
let secure: string;
beforeAll(async () => {
  t = await makeTestApp({
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${crypto.randomBytes(32).toString('base64')}`,
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: CLIENT_ID,
    KEYPLANE_SECURE_TOKEN_SECRET: SECRET,
    KEYPLANE_SECURE_TOKEN_ALGORITHM: 'hmac-sha256',
    KEYPLANE_ORIGIN_URL: 'http://127.0.0.1:9/vod/{resourceId}',
  });
  ({ kid } = await t.deps.staticKeys.create({ resourceId: RESOURCE }, 'default'));
  const minted = await request(t.app)
    .post('/playback-tokens')
    .set('x-api-key', ADMIN_KEY)
    .send({ resourceId: RESOURCE });
  token = minted.body.token as string;
  const expires = Math.floor(Date.now() / 1000) + 3600;
  secure = `/secure/${CLIENT_ID}_${RESOURCE}/${hmacToken(RESOURCE, expires)}/${expires}/keys/${kid}`;
});
afterAll(async () => {
  await t.close();
});

describe('exact routes: no other spelling of a delivery path reaches a key', () => {
  const cases = () => [
    { name: 'GET /keys', path: `/keys/${RESOURCE}/${kid}`, literals: ['keys'], key: t.keyserverKey },
    {
      name: 'GET /playback/{token}/keys',
      path: `/playback/${token}/keys/${RESOURCE}/${kid}`,
      literals: ['playback', 'keys'],
    },
    { name: 'GET /secure', path: secure, literals: ['secure', 'keys'] },
    { name: 'GET /static-keys', path: `/static-keys/${RESOURCE}`, literals: ['static-keys'], key: ADMIN_KEY },
  ];

  it('serves each route as spelled', async () => {
    for (const c of cases()) {
      const req = request(t.app).get(c.path);
      const res = await (c.key ? req.set('x-api-key', c.key) : req);
      expect([c.name, res.status]).toEqual([c.name, 200]);
    }
  });

  it('answers 404 (never a key) to every other spelling, with or without a credential', async () => {
    let tried = 0;
    for (const c of cases()) {
      for (const v of variants(c.path, c.literals)) {
        for (const key of [c.key ?? t.keyserverKey, undefined]) {
          const req = request(t.app).get(v);
          const res = await (key ? req.set('x-api-key', key) : req);
          tried += 1;
          // Without a credential, the authenticated stage refuses an unknown spelling before routing.
          const allowed = key ? [404] : [401, 404];
          expect([v, allowed.includes(res.status)]).toEqual([v, true]);
          expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
        }
      }
    }
    expect(tried).toBeGreaterThan(40);
  });

  it('answers 404 to other spellings of the Clear Key license and playlist routes', async () => {
    for (const v of variants('/clearkey/license', ['clearkey', 'license'])) {
      const res = await request(t.app)
        .post(v)
        .set('Authorization', `Bearer ${token}`)
        .send({ kids: [], type: 'temporary' });
      expect([v, [401, 404].includes(res.status)]).toEqual([v, true]);
    }
    for (const v of variants(`/playback/${token}/hls/${RESOURCE}/index.m3u8`, ['playback', 'hls'], true)) {
      const res = await request(t.app).get(v);
      expect([v, [401, 404].includes(res.status)]).toEqual([v, true]);
    }
  });
});

describe('the audit route table is exact too', () => {
  let table: RouteTable;
  beforeAll(() => {
    table = routeTableOf(FEATURE_MANIFESTS);
  });

  it('recognises each delivery route only as spelled', () => {
    const k = '11111111-2222-4333-8444-555555555555';
    const paths: [string, string, string[], boolean?][] = [
      ['GET', `/keys/r1/${k}`, ['keys']],
      ['GET', `/playback/t.t.t/keys/r1/${k}`, ['playback', 'keys']],
      ['GET', `/secure/1_r1/tok/123/keys/${k}`, ['secure', 'keys']],
      ['GET', '/playback/t.t.t/hls/r1/a/b.m3u8', ['playback', 'hls'], true],
      ['POST', '/clearkey/license', ['clearkey', 'license']],
      ['GET', '/static-keys/r1', ['static-keys']],
    ];
    for (const [method, path, literals, rest] of paths) {
      expect(table.match(method, path)).toBeDefined();
      for (const v of variants(path, literals, rest)) expect([v, table.match(method, v)]).toEqual([v, undefined]);
    }
  });
});
