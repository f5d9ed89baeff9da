import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { binaryParser as binary } from '../helpers/binary';
import { responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const CURRENT = crypto.randomBytes(32);
const PREVIOUS = crypto.randomBytes(32);
const RESOURCE = 'several-keys-1';
const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const KEYS_PATH = '/keys/{resourceId}/{kid}';
const PATH_VARIANT = '/playback/{token}/keys/{resourceId}/{kid}';

/** An HS256 JWT built with node:crypto only (independent of the code under test). */
function jwt(header: object, payload: object, secret: Buffer): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: object = {}) => ({
  sub: RESOURCE,
  aud: 'keyplane-playback',
  jti: crypto.randomUUID(),
  iat: now(),
  exp: now() + 60,
  ...over,
});

let t: TestApp;
let keys: Map<string, Buffer>;
beforeEach(async () => {
  t = await makeTestApp({
    KEYPLANE_TOKEN_SIGNING_KEYS: `new-1:${CURRENT.toString('base64')},old-1:${PREVIOUS.toString('base64')}`,
    KEYPLANE_TOKEN_MAX_TTL_SECONDS: '3600',
  });
  const res = await request(t.app)
    .post('/copyProtection')
    .set('x-api-key', t.encoderKey)
    .set('Content-Type', 'application/xml')
    .send(fixture('v1/hls-several-keys.xml'));
  keys = new Map([...responseKeys(res.text)].map(([kid, k]) => [kid, k.key]));
  await t.deps.staticKeys.create({ resourceId: 'other-vod' }, 'default');
});
afterEach(async () => {
  await t.close();
});

const mint = (body: object, key = ADMIN_KEY) =>
  request(t.app).post('/playback-tokens').set('x-api-key', key).send(body);

/** The three ways a player presents a token. */
const variants = {
  bearer: (token: string, resourceId: string, kid: string) =>
    request(t.app).get(`/keys/${resourceId}/${kid}`).set('Authorization', `Bearer ${token}`),
  query: (token: string, resourceId: string, kid: string) =>
    request(t.app).get(`/keys/${resourceId}/${kid}?token=${token}`),
  path: (token: string, resourceId: string, kid: string) =>
    request(t.app).get(`/playback/${token}/keys/${resourceId}/${kid}`),
};
/** Parses JSON errors as JSON and keys as bytes. */
function keyOrJson(res: Parameters<typeof binary>[0], cb: (err: Error | null, body: unknown) => void): void {
  binary(res, (err, bytes) => {
    const isJson = String(res.headers['content-type']).startsWith('application/json');
    cb(err, isJson ? JSON.parse(bytes.toString('utf8')) : bytes);
  });
}
const specPath = (variant: string) => (variant === 'path' ? PATH_VARIANT : KEYS_PATH);

describe('POST /playback-tokens', () => {
  it('mints an HS256 JWT with the documented claims, signed with the current key, and a key URL base', async () => {
    const res = await mint({ resourceId: RESOURCE });
    expect(res.status).toBe(201);
    expectMatchesSpec('post', '/playback-tokens', res);
    expect(res.headers['cache-control']).toBe('no-store');
    const token = res.body.token as string;
    expect(res.body.keyUrl).toBe(`http://keys.test/playback/${token}/keys/${RESOURCE}`);
    const [h, p, sig] = token.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'HS256', kid: 'new-1' });
    expect(payload).toMatchObject({ sub: RESOURCE, aud: 'keyplane-playback' });
    expect(payload.exp - payload.iat).toBe(300);
    expect(typeof payload.jti).toBe('string');
    expect(new Date(res.body.expiresAt).getTime()).toBe(payload.exp * 1000);
    expect(crypto.createHmac('sha256', CURRENT).update(`${h}.${p}`).digest('base64url')).toBe(sig);
  });

  it('honours ttlSeconds and kids (normalised to lower case)', async () => {
    const res = await mint({ resourceId: RESOURCE, ttlSeconds: 3600, kids: [KID_A.toUpperCase()] });
    expect(res.status).toBe(201);
    const payload = JSON.parse(Buffer.from((res.body.token as string).split('.')[1] as string, 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(3600);
    expect(payload.kids).toEqual([KID_A]);
  });

  it.each([
    [{ resourceId: RESOURCE, ttlSeconds: 3601 }, /ttlSeconds must be an integer from 1 to 3600/],
    [{ resourceId: RESOURCE, ttlSeconds: 0 }, /ttlSeconds/],
    [{ resourceId: RESOURCE, ttlSeconds: '60' }, /ttlSeconds/],
    [{ resourceId: RESOURCE, kids: ['not-a-uuid'] }, /kids/],
    [{ resourceId: RESOURCE, kids: [] }, /kids/],
    [{ resourceId: 'bad id' }, /resourceId/],
  ])('rejects %j with 400', async (body, message) => {
    const res = await mint(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('post', '/playback-tokens', res);
  });

  it('needs the token-issuer (or admin) role', async () => {
    const issuer = (await t.deps.apiKeys.create('cms', ['token-issuer'])).key;
    expect((await mint({ resourceId: RESOURCE }, issuer)).status).toBe(201);
    const proxy = await mint({ resourceId: RESOURCE }, t.keyserverKey);
    expect(proxy.status).toBe(403);
    expectMatchesSpec('post', '/playback-tokens', proxy);
    expect((await mint({ resourceId: RESOURCE }, t.encoderKey)).status).toBe(403);
    const anonymous = await request(t.app).post('/playback-tokens').send({ resourceId: RESOURCE });
    expect(anonymous.status).toBe(401);
  });
});

describe.each(Object.keys(variants) as (keyof typeof variants)[])('key delivery with a token (%s)', (variant) => {
  const get = (token: string, resourceId: string, kid: string) =>
    variants[variant](token, resourceId, kid).buffer(true).parse(keyOrJson);
  const json = (res: request.Response) => res.body as Record<string, unknown>;

  it('serves the 16 raw bytes, not cached', async () => {
    const { token } = (await mint({ resourceId: RESOURCE })).body as { token: string };
    const res = await get(token, RESOURCE, KID_A);
    expect(res.status).toBe(200);
    expect((res.body as Buffer).equals(keys.get(KID_A) as Buffer)).toBe(true);
    expect(res.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', specPath(variant), res);
  });

  it('refuses another resource and KIDs outside the token with 403', async () => {
    const { token } = (await mint({ resourceId: RESOURCE, kids: [KID_A] })).body as { token: string };
    const otherKid = (await t.deps.staticKeys.show('other-vod', 'default'))?.kid as string;
    const other = await get(token, 'other-vod', otherKid);
    expect(other.status).toBe(403);
    expect(json(other)).toMatchObject({ reason: 'token_resource_mismatch' });
    expect(other.headers['cache-control']).toBe('no-store');
    const kidB = await get(token, RESOURCE, KID_B);
    expect(kidB.status).toBe(403);
    expect(json(kidB)).toMatchObject({ reason: 'token_kid_not_allowed' });
    expect((await get(token, RESOURCE, KID_A)).status).toBe(200);
  });

  it('answers 410 for an expired token and 401 for forged or malformed ones', async () => {
    const expired = jwt({ alg: 'HS256', kid: 'new-1' }, claims({ iat: now() - 120, exp: now() - 60 }), CURRENT);
    const gone = await get(expired, RESOURCE, KID_A);
    expect(gone.status).toBe(410);
    expect(gone.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', specPath(variant), gone);

    const forged = [
      jwt({ alg: 'HS256', kid: 'new-1' }, claims(), crypto.randomBytes(32)),
      jwt({ alg: 'HS256', kid: 'unknown' }, claims(), CURRENT),
      jwt({ alg: 'HS256', kid: 'new-1' }, claims({ aud: 'something-else' }), CURRENT),
      jwt({ alg: 'HS256', kid: 'new-1' }, claims({ exp: undefined }), CURRENT),
      `${jwt({ alg: 'none', kid: 'new-1' }, claims(), CURRENT).split('.').slice(0, 2).join('.')}.AA`,
      'aaa.bbb.ccc',
    ];
    for (const token of forged) {
      const res = await get(token, RESOURCE, KID_A);
      expect(res.status).toBe(401);
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('accepts tokens signed with a previous (verify-only) key', async () => {
    const old = jwt({ alg: 'HS256', kid: 'old-1' }, claims(), PREVIOUS);
    expect((await get(old, RESOURCE, KID_A)).status).toBe(200);
  });
});

describe('what tokens do not grant', () => {
  it('is refused on SPEKE, admin and token-issuing routes', async () => {
    const { token } = (await mint({ resourceId: RESOURCE })).body as { token: string };
    const bearer = { Authorization: `Bearer ${token}` };
    const speke = await request(t.app)
      .post('/copyProtection')
      .set(bearer)
      .set('Content-Type', 'application/xml')
      .send(fixture('v1/hls-several-keys.xml'));
    expect(speke.status).toBe(403);
    expect((await request(t.app).get('/api-keys').set(bearer)).status).toBe(403);
    expect((await request(t.app).get(`/leases/${RESOURCE}?token=${token}`)).status).toBe(403);
    expect((await request(t.app).post('/playback-tokens').set(bearer).send({ resourceId: RESOURCE })).status).toBe(403);
  });

  it('leaves API keys working as Bearer values, and a header credential wins over ?token=', async () => {
    const res = await request(t.app)
      .get(`/keys/${RESOURCE}/${KID_B}?token=aaa.bbb.ccc`)
      .set('Authorization', `Bearer ${t.keyserverKey}`);
    expect(res.status).toBe(200);
  });
});

describe('signing keys without KEYPLANE_TOKEN_SIGNING_KEYS', () => {
  it('generates token-keys.json (mode 0600) once in the data dir and keeps using it', async () => {
    const local = await makeTestApp();
    try {
      const file = path.join(local.dataDir, 'token-keys.json');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const before = fs.readFileSync(file, 'utf8');
      const { key, kid } = await local.deps.staticKeys.create({ resourceId: 'local-vod' }, 'default');
      const minted = await request(local.app)
        .post('/playback-tokens')
        .set('x-api-key', ADMIN_KEY)
        .send({ resourceId: 'local-vod' });
      const res = await request(local.app)
        .get(`/keys/local-vod/${kid}?token=${minted.body.token}`)
        .buffer(true)
        .parse(binary);
      expect((res.body as Buffer).equals(key)).toBe(true);
      const { secret } = JSON.parse(before).keys[0];
      const [h, p, sig] = (minted.body.token as string).split('.');
      expect(crypto.createHmac('sha256', Buffer.from(secret, 'base64')).update(`${h}.${p}`).digest('base64url')).toBe(
        sig,
      );
      expect(fs.readFileSync(file, 'utf8')).toBe(before);
    } finally {
      await local.close();
    }
  });
});

describe('one spelling per token, on every transport', () => {
  const get = (req: request.Test) => req.buffer(true).parse(keyOrJson);
  const good = () => jwt({ alg: 'HS256', kid: 'new-1' }, claims(), CURRENT);

  it.each([
    ['padding', (t: string) => `${t}=`],
    ['a fourth segment', (t: string) => `${t}.x`],
    ['an encoded space', (t: string) => `${t}%20`],
    ['an encoded newline', (t: string) => `${t}%0A`],
    ['a leading encoded space', (t: string) => `%20${t}`],
    ['an encoded dot', (t: string) => `${t}%2E`],
    ['a percent-encoded first letter', (t: string) => `%${t.charCodeAt(0).toString(16)}${t.slice(1)}`],
  ])('refuses %s with 401 in the path and the query', async (_name, spell) => {
    const token = good();
    expect((await get(variants.query(token, RESOURCE, KID_A))).status).toBe(200);
    for (const variant of ['path', 'query'] as const) {
      const res = await get(variants[variant](spell(token), RESOURCE, KID_A));
      expect(res.status).toBe(401);
      expect(JSON.stringify(res.body)).not.toContain(token.split('.')[2]);
    }
  });

  it.each([
    ['padding', (t: string) => `${t}=`],
    ['a fourth segment', (t: string) => `${t}.x`],
    ['standard base64', (t: string) => `${t.slice(0, -1)}+`],
  ])('refuses a Bearer value with %s with 401', async (_name, spell) => {
    const res = await get(variants.bearer(spell(good()), RESOURCE, KID_A));
    expect(res.status).toBe(401);
  });

  it('refuses mixed or repeated transports with 401', async () => {
    const token = good();
    const path = `/playback/${token}/keys/${RESOURCE}/${KID_A}`;
    const keys = `/keys/${RESOURCE}/${KID_A}`;
    const cases: request.Test[] = [
      request(t.app).get(`${path}?token=${token}`),
      request(t.app).get(path).set('Authorization', `Bearer ${token}`),
      request(t.app).get(path).set('Cookie', `token=${token}`),
      request(t.app).get(`${keys}?token=${token}&token=${token}`),
      request(t.app).get(`${keys}?token=${token}`).set('Authorization', `Bearer ${token}`),
      request(t.app).get(`${keys}?token=${token}`).set('Cookie', `token=${token}`),
      request(t.app).get(`${keys}?%74oken=${token}&token=${token}`),
    ];
    for (const req of cases) expect((await get(req)).status).toBe(401);
    expect((await get(request(t.app).get(path))).status).toBe(200);
  });
});

describe('bounded token lifetimes (KEYPLANE_TOKEN_MAX_TTL_SECONDS=3600)', () => {
  const sign = (over: object) => jwt({ alg: 'HS256', kid: 'new-1' }, claims(over), CURRENT);
  it.each([
    ['iat in the future', { iat: now() + 600, exp: now() + 660 }, 401, /issued in the future/],
    ['no exp', { exp: undefined }, 401, /Invalid playback token/],
    ['a lifetime above the maximum', { iat: now(), exp: now() + 3601 }, 401, /longer than the maximum of 3600 s/],
    ['a lifetime of a year', { iat: now() - 5, exp: now() + 365 * 86400 }, 401, /longer than the maximum/],
    ['an expired token', { iat: now() - 120, exp: now() - 60 }, 410, /expired/],
  ])('answers a token with %s', async (_name, over, status, message) => {
    for (const variant of Object.keys(variants) as (keyof typeof variants)[]) {
      const res = await variants[variant](sign(over), RESOURCE, KID_A).buffer(true).parse(keyOrJson);
      expect(res.status).toBe(status);
      expect((res.body as { message: string }).message).toMatch(message);
    }
  });

  it('accepts iat up to 60 s ahead', async () => {
    const res = await variants.path(sign({ iat: now() + 30, exp: now() + 90 }), RESOURCE, KID_A);
    expect(res.status).toBe(200);
  });
});
