import request from 'supertest';
import { binaryParser as binary } from '../helpers/binary';
import { apiKeyParts } from '../helpers/api-key-parts';
import { fixture } from '../helpers/fixtures';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

const admin = () => ({ 'x-api-key': ADMIN_KEY });

describe('static keys', () => {
  it('creates a key with exactly the fields an encoder static key provider takes, and serves it', async () => {
    const res = await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'vod-42' });
    expect(res.status).toBe(201);
    expectMatchesSpec('post', '/static-keys', res);
    expect(res.body).toMatchObject({ resourceId: 'vod-42', KeyFormat: 'identity', KeyFormatVersions: '1' });
    expect(res.body.StaticKeyValue).toMatch(/^[0-9a-f]{32}$/);
    expect(res.body.ConstantInitializationVector).toMatch(/^[0-9a-f]{32}$/);
    expect(res.body.Url).toBe(`http://keys.test/keys/vod-42/${res.body.kid}`);
    const key = await request(t.app)
      .get(`/keys/vod-42/${res.body.kid}`)
      .set('x-api-key', t.keyserverKey)
      .buffer(true)
      .parse(binary);
    expect(key.status).toBe(200);
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', key);
    expect((key.body as Buffer).toString('hex')).toBe(res.body.StaticKeyValue);
  });

  it('imports a given key and IV; re-posting is idempotent; a different key is a 409', async () => {
    const keyHex = '00112233445566778899aabbccddeeff';
    const ivHex = 'ffeeddccbbaa99887766554433221100';
    const first = await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'imp', keyHex, ivHex });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ StaticKeyValue: keyHex, ConstantInitializationVector: ivHex });
    const again = await request(t.app).post('/static-keys').set(admin()).send({ resourceId: 'imp' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const same = await request(t.app)
      .post('/static-keys')
      .set(admin())
      .send({ resourceId: 'imp', keyHex: keyHex.toUpperCase() });
    expect(same.status).toBe(200);
    const other = await request(t.app)
      .post('/static-keys')
      .set(admin())
      .send({ resourceId: 'imp', keyHex: 'ab'.repeat(16) });
    expect(other.status).toBe(409);
    expectMatchesSpec('post', '/static-keys', other);
    const shown = await request(t.app).get('/static-keys/imp').set(admin());
    expect(shown.body).toEqual(first.body);
    expectMatchesSpec('get', '/static-keys/{resourceId}', shown);
  });

  it.each([
    [{ resourceId: 'x', keyHex: 'abc' }, /keyHex must be 32 hexadecimal/],
    [{ resourceId: 'x', ivHex: 'zz'.repeat(16) }, /ivHex must be 32 hexadecimal/],
    [{ resourceId: 'bad id' }, /resourceId must be/],
    [{}, /resourceId must be/],
    [[1, 2], /JSON object/],
  ])('rejects %j with 400', async (body, message) => {
    const res = await request(t.app)
      .post('/static-keys')
      .set(admin())
      .send(body as object);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('post', '/static-keys', res);
    expect(await t.deps.store.staticKeys.get('x')).toBeUndefined();
  });

  it('answers 400 for malformed JSON and 403 for non-admins', async () => {
    const bad = await request(t.app)
      .post('/static-keys')
      .set(admin())
      .set('Content-Type', 'application/json')
      .send('{"resourceId":');
    expect(bad.status).toBe(400);
    const encoder = await request(t.app).post('/static-keys').set('x-api-key', t.encoderKey).send({ resourceId: 'y' });
    expect(encoder.status).toBe(403);
    expectMatchesSpec('post', '/static-keys', encoder);
  });
});

describe('API keys', () => {
  it('creates, lists (without secrets) and revokes keys; revocation applies to the next request', async () => {
    const created = await request(t.app)
      .post('/api-keys')
      .set(admin())
      .send({ name: 'proxy-eu', roles: ['keyserver'] });
    expect(created.status).toBe(201);
    expectMatchesSpec('post', '/api-keys', created);
    const key = created.body.key as string;
    const list = await request(t.app).get('/api-keys').set(admin());
    expectMatchesSpec('get', '/api-keys', list);
    expect(JSON.stringify(list.body)).not.toContain(apiKeyParts(key).secret);
    const health = await request(t.app).get('/keys/nope/6c5f5206-7d98-4808-84d8-94f132c1e9fe').set('x-api-key', key);
    expect(health.status).toBe(404);
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', health);
    const del = await request(t.app).delete(`/api-keys/${created.body.id}`).set(admin());
    expect(del.status).toBe(204);
    const after = await request(t.app).get('/keys/nope/6c5f5206-7d98-4808-84d8-94f132c1e9fe').set('x-api-key', key);
    expect(after.status).toBe(401);
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', after);
    expect((await request(t.app).delete(`/api-keys/${created.body.id}`).set(admin())).status).toBe(404);
  });

  it('rejects unknown roles', async () => {
    const res = await request(t.app)
      .post('/api-keys')
      .set(admin())
      .send({ name: 'x', roles: ['root'] });
    expect(res.status).toBe(400);
    expectMatchesSpec('post', '/api-keys', res);
  });
});

describe('public routes and the API description', () => {
  it('serves health, heartbeat and openapi.json without auth', async () => {
    const health = await request(t.app).get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body.store).toEqual({ backend: 'sqlite', status: 'ok' });
    expectMatchesSpec('get', '/healthz', health);
    const hb = await request(t.app).get('/heartbeat');
    expectMatchesSpec('get', '/heartbeat', hb);
    const spec = await request(t.app).get('/openapi.json');
    expect(spec.body.openapi).toBe('3.1.0');
  });

  it('reports 503 when the store is down', async () => {
    await t.deps.store.close();
    const health = await request(t.app).get('/healthz');
    expect(health.status).toBe(503);
    expectMatchesSpec('get', '/healthz', health);
    t = await makeTestApp();
  });

  it('matches the description for SPEKE success and error responses', async () => {
    const ok = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('Content-Type', 'application/xml')
      .send(fixture('v1/hls-single-key.xml'));
    expectMatchesSpec('post', '/copyProtection', ok);
    const bad = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('Content-Type', 'application/xml')
      .send(fixture('v1/rejected/bad-kid.xml'));
    expectMatchesSpec('post', '/copyProtection', bad);
    const lease = await request(t.app).get('/leases/MovieNight20171126093045').set(admin());
    expectMatchesSpec('get', '/leases/{resourceId}', lease);
    const del = await request(t.app).delete('/leases/MovieNight20171126093045').set(admin());
    expectMatchesSpec('delete', '/leases/{resourceId}', del);
  });

  it('describes every route the app serves', async () => {
    const spec = (await request(t.app).get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    for (const [p, ops] of Object.entries(spec.paths)) {
      for (const method of Object.keys(ops)) {
        const url = p
          .replace('{resourceId}', 'r1')
          .replace('{kid}', '6c5f5206-7d98-4808-84d8-94f132c1e9fe')
          .replace('{id}', 'x')
          .replace('{path}', 'index.m3u8')
          .replace(/\{[A-Za-z]+\}/g, 'x');
        const res = await (request(t.app) as unknown as Record<string, (u: string) => request.Test>)[method]!(url).set(
          admin(),
        );
        expect(res.body?.message ?? '').not.toMatch(/^No route for/);
      }
    }
  });
});
