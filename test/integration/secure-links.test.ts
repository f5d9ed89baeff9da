import crypto from 'node:crypto';
import request from 'supertest';
import { binaryParser as binary } from '../helpers/binary';
import { expectMatchesSpec } from '../helpers/openapi';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const CLIENT_ID = '2675';
const SECRET = 'gcore-style-secret-0123';
const SPEC_PATH = '/secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}';
const RESOURCE = 'vod_2024_episode_1';

/** Gcore's published formula, written out here independently of the code under test. */
function md5Token(clientId: string, resourceId: string, secret: string, expires: number): string {
  const digest = crypto.createHash('md5').update(`${clientId}_${resourceId}_${secret}_${expires}_`).digest('base64');
  return digest.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '');
}
function hmacToken(clientId: string, resourceId: string, secret: string, expires: number): string {
  const digest = crypto.createHmac('sha256', secret).update(`${clientId}_${resourceId}_${expires}_`).digest('base64');
  return digest.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '');
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const link = (resourceId: string, token: string, expires: number, kid: string, clientId = CLIENT_ID) =>
  `/secure/${clientId}_${resourceId}/${token}/${expires}/keys/${kid}`;

/** Parses JSON errors as JSON and keys as bytes. */
function keyOrJson(res: Parameters<typeof binary>[0], cb: (err: Error | null, body: unknown) => void): void {
  binary(res, (err, bytes) => {
    const isJson = String(res.headers['content-type']).startsWith('application/json');
    cb(err, isJson ? JSON.parse(bytes.toString('utf8')) : bytes);
  });
}
const get = (t: TestApp, url: string) => request(t.app).get(url).buffer(true).parse(keyOrJson);

describe.each([
  ['md5', md5Token],
  ['hmac-sha256', hmacToken],
] as const)('secure links (%s)', (algorithm, token) => {
  let t: TestApp;
  let key: Buffer;
  let kid: string;
  beforeEach(async () => {
    t = await makeTestApp({
      KEYPLANE_SECURE_TOKEN_CLIENT_ID: CLIENT_ID,
      KEYPLANE_SECURE_TOKEN_SECRET: SECRET,
      KEYPLANE_SECURE_TOKEN_ALGORITHM: algorithm,
    });
    ({ key, kid } = await t.deps.staticKeys.create({ resourceId: RESOURCE }, 'default'));
  });
  afterEach(async () => {
    await t.close();
  });

  it('serves the key for a valid link (resource ID containing "_"), not cached', async () => {
    const expires = inAnHour();
    const res = await get(t, link(RESOURCE, token(CLIENT_ID, RESOURCE, SECRET, expires), expires, kid));
    expect(res.status).toBe(200);
    expect((res.body as Buffer).equals(key)).toBe(true);
    expect(res.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', SPEC_PATH, res);
  });

  it('answers 410 for a valid but expired link', async () => {
    const expires = Math.floor(Date.now() / 1000) - 10;
    const res = await get(t, link(RESOURCE, token(CLIENT_ID, RESOURCE, SECRET, expires), expires, kid));
    expect(res.status).toBe(410);
    expect(res.headers['cache-control']).toBe('no-store');
    expectMatchesSpec('get', SPEC_PATH, res);
  });

  it('answers 403 for a wrong token, secret, resource, client id or a changed expiry', async () => {
    const expires = inAnHour();
    const good = token(CLIENT_ID, RESOURCE, SECRET, expires);
    const bad = [
      link(RESOURCE, token(CLIENT_ID, RESOURCE, 'another-secret-0123456', expires), expires, kid),
      link(RESOURCE, token(CLIENT_ID, 'vod_2024_episode_2', SECRET, expires), expires, kid),
      link(RESOURCE, good, expires + 1, kid),
      link(RESOURCE, good.slice(0, -1), expires, kid),
      link(RESOURCE, token('9999', RESOURCE, SECRET, expires), expires, kid, '9999'),
      link(
        RESOURCE,
        algorithm === 'md5'
          ? hmacToken(CLIENT_ID, RESOURCE, SECRET, expires)
          : md5Token(CLIENT_ID, RESOURCE, SECRET, expires),
        expires,
        kid,
      ),
    ];
    for (const url of bad) {
      const res = await get(t, url);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden', reason: 'secure_link_invalid' });
      expect(res.headers['cache-control']).toBe('no-store');
      expectMatchesSpec('get', SPEC_PATH, res);
    }
  });

  it('does not hand out keys of another resource through a valid link', async () => {
    const other = await t.deps.staticKeys.create({ resourceId: 'other' }, 'default');
    const expires = inAnHour();
    const res = await get(t, link(RESOURCE, token(CLIENT_ID, RESOURCE, SECRET, expires), expires, other.kid));
    expect(res.status).toBe(404);
  });
});

describe('secure links when not configured', () => {
  it('answers 501 naming the variables', async () => {
    const t = await makeTestApp();
    try {
      const res = await get(t, link('x', 'abc', inAnHour(), crypto.randomUUID()));
      expect(res.status).toBe(501);
      expect(res.body.message).toMatch(/KEYPLANE_SECURE_TOKEN_SECRET/);
      expectMatchesSpec('get', SPEC_PATH, res);
    } finally {
      await t.close();
    }
  });
});
