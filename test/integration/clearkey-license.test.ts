import crypto from 'node:crypto';
import request from 'supertest';
import { buildCpixRequest } from '../../src/cli/cpix-request-builder';
import { NS } from '../../src/cpix/namespaces';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { drmField, responseKeys } from '../helpers/cpix';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

// POST /clearkey/license: W3C EME Clear Key license requests (EME §9.1.3) answered with JWK sets (§9.1.4),
// to keyserver/admin callers and playback tokens, with CORS for browser players.

const LICENSE = '/clearkey/license';
const SIGNING_KEY = crypto.randomBytes(32);
const MOVIE_A = 'movie-a';
const MOVIE_B = 'movie-b';

/** EME's spelling of a KID, computed independently of the code under test. */
const b64 = (kid: string) => Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url');
/** A well-formed KID for the validation cases (they fail before any lookup). */
const VALID_KID = b64(crypto.randomUUID());

let t: TestApp;
let videoKid: string;
let audioKid: string;
let otherKid: string;
let keys: Map<string, Buffer>;

async function spekeV2(resourceId: string): Promise<string> {
  const built = buildCpixRequest({
    speke: '2.0',
    resourceId,
    drms: ['clearkey', 'widevine', 'playready'],
    preset: { video: 'PRESET-VIDEO-1', audio: 'PRESET-AUDIO-1' },
    scheme: 'cenc',
  });
  const res = await request(t.app)
    .post('/copyProtection')
    .set('x-api-key', t.encoderKey)
    .set('X-Speke-Version', '2.0')
    .set('Content-Type', 'application/xml')
    .send(built.xml);
  expect(res.status).toBe(200);
  return res.text;
}

const license = (body: unknown, auth?: Record<string, string>) => {
  const req = request(t.app).post(LICENSE).set('Content-Type', 'application/json');
  for (const [name, value] of Object.entries(auth ?? {})) req.set(name, value);
  return req.send(JSON.stringify(body));
};
const keyserver = () => ({ 'x-api-key': t.keyserverKey });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function token(resourceId: string, kids?: string[]): Promise<string> {
  const res = await request(t.app)
    .post('/playback-tokens')
    .set('x-api-key', ADMIN_KEY)
    .send({ resourceId, ...(kids ? { kids } : {}) });
  expect(res.status).toBe(201);
  return res.body.token as string;
}

beforeAll(async () => {
  t = await makeTestApp({ KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SIGNING_KEY.toString('base64')}` });
  const xmlA = await spekeV2(MOVIE_A);
  const xmlB = await spekeV2(MOVIE_B);
  const issuedA = responseKeys(xmlA);
  [videoKid, audioKid] = [...issuedA.keys()] as [string, string];
  otherKid = [...responseKeys(xmlB).keys()][0] as string;
  keys = new Map([...issuedA, ...responseKeys(xmlB)].map(([kid, k]) => [kid, k.key]));
  // The license URL Keyplane signals for ClearKey is this route.
  const cpd = drmField(xmlA, videoKid, NS.cpix, 'ContentProtectionData') ?? '';
  expect(cpd).toContain(`>http://keys.test${LICENSE}</clearkey:Laurl>`);
  expect(SYSTEM_IDS.clearkey).toBe('e2719d58-a985-b3c9-781a-b030af78d30e');
});
afterAll(async () => {
  await t.close();
});

describe('POST /clearkey/license: the answer', () => {
  it('answers a keyserver API key with the JWK set of the requested KIDs, in request order, not cacheable', async () => {
    const res = await license({ kids: [b64(audioKid), b64(videoKid)], type: 'temporary' }, keyserver());
    expect(res.status).toBe(200);
    expectMatchesSpec('post', LICENSE, res);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      keys: [
        { kty: 'oct', kid: b64(audioKid), k: keys.get(audioKid)?.toString('base64url') },
        { kty: 'oct', kid: b64(videoKid), k: keys.get(videoKid)?.toString('base64url') },
      ],
      type: 'temporary',
    });
  });

  it('treats a missing type as temporary, drops duplicate KIDs, and leaves unknown KIDs out', async () => {
    const unknown = b64(crypto.randomUUID());
    const res = await license({ kids: [b64(videoKid), unknown, b64(videoKid)] }, keyserver());
    expect(res.status).toBe(200);
    expect(res.body.keys.map((k: { kid: string }) => k.kid)).toEqual([b64(videoKid)]);
    expect(res.body.type).toBe('temporary');
  });

  it('answers 404 when none of the KIDs has a key', async () => {
    const res = await license({ kids: [b64(crypto.randomUUID())] }, keyserver());
    expect(res.status).toBe(404);
    expectMatchesSpec('post', LICENSE, res);
  });

  it('lets the admin key read keys of several resources at once', async () => {
    const res = await license({ kids: [b64(videoKid), b64(otherKid)] }, bearer(ADMIN_KEY));
    expect(res.status).toBe(200);
    expect(res.body.keys.map((k: { k: string }) => Buffer.from(k.k, 'base64url'))).toEqual([
      keys.get(videoKid),
      keys.get(otherKid),
    ]);
  });

  it('reads the body as JSON whatever the Content-Type (players send text/plain or none)', async () => {
    const res = await request(t.app)
      .post(LICENSE)
      .set(keyserver())
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ kids: [b64(videoKid)], type: 'temporary' }));
    expect(res.status).toBe(200);
    expect(res.body.keys).toHaveLength(1);
  });
});

describe('POST /clearkey/license: who may ask', () => {
  it('needs credentials (401) and checks them before the body', async () => {
    const res = await license({ kids: 'not even an array' });
    expect(res.status).toBe(401);
    expectMatchesSpec('post', LICENSE, res);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it.each([['encoder'], ['token-issuer']])('refuses the %s role (403)', async (role) => {
    const key = (await t.deps.apiKeys.create(`r-${role}`, [role as 'encoder'])).key;
    const res = await license({ kids: [b64(videoKid)] }, { 'x-api-key': key });
    expect(res.status).toBe(403);
    expectMatchesSpec('post', LICENSE, res);
  });

  it('serves a playback token the keys of its resource (Bearer or ?token=)', async () => {
    const tok = await token(MOVIE_A);
    const viaHeader = await license({ kids: [b64(videoKid), b64(audioKid)] }, bearer(tok));
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.keys).toHaveLength(2);
    const viaQuery = await request(t.app)
      .post(`${LICENSE}?token=${tok}`)
      .send(JSON.stringify({ kids: [b64(audioKid)] }));
    expect(viaQuery.status).toBe(200);
    expect(Buffer.from(viaQuery.body.keys[0].k, 'base64url')).toEqual(keys.get(audioKid));
  });

  it('refuses a token any KID of another resource (403 token_resource_mismatch), even next to its own', async () => {
    const tok = await token(MOVIE_A);
    const res = await license({ kids: [b64(videoKid), b64(otherKid)] }, bearer(tok));
    expect(res.status).toBe(403);
    expect(res.body.reason).toBe('token_resource_mismatch');
    expect(JSON.stringify(res.body)).not.toContain(keys.get(videoKid)?.toString('base64url'));
    expectMatchesSpec('post', LICENSE, res);
  });

  it('refuses a token with a KID list any KID outside it (403 token_kid_not_allowed)', async () => {
    const tok = await token(MOVIE_A, [videoKid]);
    expect((await license({ kids: [b64(videoKid)] }, bearer(tok))).status).toBe(200);
    const res = await license({ kids: [b64(videoKid), b64(audioKid)] }, bearer(tok));
    expect(res.status).toBe(403);
    expect(res.body.reason).toBe('token_kid_not_allowed');
  });

  it('answers 404 to a token asking only for unknown KIDs, 401 to a forged token and 410 to an expired one', async () => {
    const tok = await token(MOVIE_A);
    expect((await license({ kids: [b64(crypto.randomUUID())] }, bearer(tok))).status).toBe(404);
    const [h, p] = tok.split('.') as [string, string];
    expect((await license({ kids: [b64(videoKid)] }, bearer(`${h}.${p}.AAAAAAAAAAAAAAAA`))).status).toBe(401);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: MOVIE_A, aud: 'keyplane-playback', jti: crypto.randomUUID(), iat: now - 120, exp: now - 60 };
    const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(claims)}`;
    const expired = `${input}.${crypto.createHmac('sha256', SIGNING_KEY).update(input).digest('base64url')}`;
    const res = await license({ kids: [b64(videoKid)] }, bearer(expired));
    expect(res.status).toBe(410);
    expectMatchesSpec('post', LICENSE, res);
  });

  it("applies the resource's delivery access policy", async () => {
    const put = await request(t.app)
      .put(`/resources/${MOVIE_B}/policy`)
      .set('x-api-key', ADMIN_KEY)
      .send({ denyIps: ['127.0.0.1', '::1'] });
    expect(put.status).toBe(200);
    try {
      const denied = await license({ kids: [b64(otherKid)] }, keyserver());
      expect(denied.status).toBe(403);
      expect(denied.body.reason).toBe('ip_denied');
      expect((await license({ kids: [b64(videoKid), b64(otherKid)] }, keyserver())).status).toBe(403);
      expect((await license({ kids: [b64(videoKid)] }, keyserver())).status).toBe(200);
    } finally {
      await request(t.app).delete(`/resources/${MOVIE_B}/policy`).set('x-api-key', ADMIN_KEY);
    }
  });
});

describe('POST /clearkey/license: strict request validation (400 naming what)', () => {
  const kid = () => VALID_KID;
  it.each<[string, unknown, RegExp]>([
    ['an array', [kid()], /JSON object/],
    ['a string', 'kids', /JSON object/],
    ['null', null, /JSON object/],
    ['no kids', { type: 'temporary' }, /kids must be a non-empty array of at most 64/],
    ['empty kids', { kids: [] }, /kids must be a non-empty array/],
    ['65 kids', { kids: Array.from({ length: 65 }, () => b64(crypto.randomUUID())) }, /at most 64/],
    ['a number KID', { kids: [42] }, /kids\[0\] must be base64url/],
    ['a UUID KID', { kids: [crypto.randomUUID()] }, /kids\[0\] must be base64url \(no padding\) of a 16-byte KID/],
    ['a padded KID', { kids: [`${kid()}==`] }, /kids\[0\]/],
    ['standard base64', { kids: [kid(), Buffer.alloc(16, 0xfb).toString('base64').slice(0, 22)] }, /kids\[1\]/],
    ['a 15-byte KID', { kids: [crypto.randomBytes(15).toString('base64url')] }, /kids\[0\]/],
    ['a non-canonical last character', { kids: [`${'A'.repeat(21)}B`] }, /kids\[0\]/],
    ['type persistent-license', { kids: [kid()], type: 'persistent-license' }, /persistent-license.*temporary/],
    ['another type', { kids: [kid()], type: 'session' }, /type must be "temporary"/],
    ['an unknown field', { kids: [kid()], type: 'temporary', extra: 1 }, /unknown field\(s\): extra/],
  ])('rejects %s', async (_name, body, message) => {
    const res = await license(body, keyserver());
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('post', LICENSE, res);
  });

  it('rejects a body that is not JSON, and one over 8 KB', async () => {
    const bad = await request(t.app).post(LICENSE).set(keyserver()).set('Content-Type', 'application/json').send('{');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/not valid JSON/);
    const big = await license({ kids: [kid()], pad: 'x'.repeat(9000) }, keyserver());
    expect(big.status).toBe(413);
    expectMatchesSpec('post', LICENSE, big);
  });
});

describe('CORS for browser players', () => {
  const ORIGIN = 'https://player.example.com';

  it('answers the preflight without credentials: any origin by default, Authorization allowed', async () => {
    const res = await request(t.app)
      .options(LICENSE)
      .set('Origin', ORIGIN)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(res.status).toBe(204);
    expectMatchesSpec('options', LICENSE, res);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    expect(res.headers['access-control-allow-headers']).toMatch(/\bAuthorization\b/);
    expect(res.headers['access-control-allow-headers']).toMatch(/\bContent-Type\b/);
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('lets the page read answers and errors alike (Access-Control-Allow-Origin on 200 and 401)', async () => {
    const ok = await license({ kids: [b64(videoKid)] }, { ...keyserver(), Origin: ORIGIN });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('*');
    const anonymous = await license({ kids: [b64(videoKid)] }, { Origin: ORIGIN });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['access-control-allow-origin']).toBe('*');
  });

  it('does not add CORS headers to other routes', async () => {
    const res = await request(t.app).get(`/keys/${MOVIE_A}/${videoKid}`).set(keyserver()).set('Origin', ORIGIN);
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  describe('with KEYPLANE_CORS_ORIGINS set', () => {
    let listed: TestApp;
    beforeAll(async () => {
      listed = await makeTestApp({ KEYPLANE_CORS_ORIGINS: `${ORIGIN}, https://*.cdn.example` });
    });
    afterAll(async () => {
      await listed.close();
    });
    const preflight = (origin: string) =>
      request(listed.app).options(LICENSE).set('Origin', origin).set('Access-Control-Request-Method', 'POST');

    it('reflects a listed origin (exact or wildcard subdomain) with Vary: Origin', async () => {
      for (const origin of [ORIGIN, 'https://eu.cdn.example']) {
        const res = await preflight(origin);
        expect(res.status).toBe(204);
        expect(res.headers['access-control-allow-origin']).toBe(origin);
        expect(res.headers.vary).toMatch(/Origin/);
      }
    });

    it('refuses other origins, on the preflight and on the request itself (403 origin_denied, no CORS header)', async () => {
      for (const origin of ['https://evil.example', 'http://player.example.com', 'https://cdn.example', 'null']) {
        const res = await preflight(origin);
        expect(res.status).toBe(403);
        expect(res.body.reason).toBe('origin_denied');
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        expectMatchesSpec('options', LICENSE, res);
      }
      const post = await request(listed.app)
        .post(LICENSE)
        .set('x-api-key', listed.keyserverKey)
        .set('Origin', 'https://evil.example')
        .send(JSON.stringify({ kids: [b64(crypto.randomUUID())] }));
      expect(post.status).toBe(403);
      expect(post.body.reason).toBe('origin_denied');
    });

    it('serves callers that send no Origin (keyserver proxies, native players)', async () => {
      const res = await request(listed.app)
        .post(LICENSE)
        .set('x-api-key', listed.keyserverKey)
        .send(JSON.stringify({ kids: [b64(crypto.randomUUID())] }));
      expect(res.status).toBe(404);
    });
  });
});
