import crypto from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/compose/app';
import { buildDeps, localBackends } from '../../src/compose/services';
import type { Backend } from '../../src/store/backend';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const SECRET = 'secure-link-secret-0123456789';
const admin = { 'x-api-key': ADMIN_KEY };

let t: TestApp;
let kid: string;
async function start(env: Record<string, string>): Promise<void> {
  t = await makeTestApp({ KEYPLANE_SECURE_TOKEN_CLIENT_ID: 'c1', KEYPLANE_SECURE_TOKEN_SECRET: SECRET, ...env });
  ({ kid } = await t.deps.staticKeys.create({ resourceId: 'vod-1' }, 'default'));
}
afterEach(async () => {
  await t.close();
});

const viaKeys = (headers: Record<string, string> = {}) =>
  request(t.app)
    .get(`/keys/vod-1/${kid}`)
    .set({ 'x-api-key': t.keyserverKey, ...headers });

async function viaPlayback(headers: Record<string, string> = {}) {
  const { token } = (await request(t.app).post('/playback-tokens').set(admin).send({ resourceId: 'vod-1' })).body;
  return request(t.app).get(`/playback/${token}/keys/vod-1/${kid}`).set(headers);
}

function viaSecureLink(headers: Record<string, string> = {}) {
  const expires = Math.floor(Date.now() / 1000) + 600;
  const token = crypto.createHmac('sha256', SECRET).update(`c1_vod-1_${expires}_`).digest('base64url');
  return request(t.app).get(`/secure/c1_vod-1/${token}/${expires}/keys/${kid}`).set(headers);
}

describe('global IP rules and trusted proxies', () => {
  it('honours X-Forwarded-For only from trusted proxies, on every delivery route', async () => {
    await start({ KEYPLANE_DELIVERY_DENY_IPS: '203.0.113.0/24', KEYPLANE_TRUSTED_PROXIES: 'loopback' });
    const denied = { 'X-Forwarded-For': '203.0.113.9' };
    const fine = { 'X-Forwarded-For': '198.51.100.1' };
    for (const [route, send] of [
      ['/keys/{resourceId}/{kid}', viaKeys],
      ['/playback/{token}/keys/{resourceId}/{kid}', viaPlayback],
      ['/secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}', viaSecureLink],
    ] as const) {
      const res = await send(denied);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden', reason: 'ip_denied' });
      expect(res.headers['cache-control']).toBe('no-store');
      expectMatchesSpec('get', route, res);
      expect((await send(fine)).status).toBe(200);
    }
  });

  it('refuses a denied caller before saying whether the KID exists (403, not 404)', async () => {
    await start({ KEYPLANE_DELIVERY_DENY_IPS: '203.0.113.0/24', KEYPLANE_TRUSTED_PROXIES: 'loopback' });
    const unknownKid = crypto.randomUUID();
    const denied = await request(t.app)
      .get(`/keys/vod-1/${unknownKid}`)
      .set({ 'x-api-key': t.keyserverKey, 'X-Forwarded-For': '203.0.113.9' });
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ reason: 'ip_denied' });
    const allowed = await request(t.app)
      .get(`/keys/vod-1/${unknownKid}`)
      .set({ 'x-api-key': t.keyserverKey, 'X-Forwarded-For': '198.51.100.1' });
    expect(allowed.status).toBe(404);
  });

  it('ignores X-Forwarded-For without trusted proxies', async () => {
    await start({ KEYPLANE_DELIVERY_DENY_IPS: '203.0.113.0/24' });
    expect((await viaKeys({ 'X-Forwarded-For': '203.0.113.9' })).status).toBe(200);
  });

  it('applies IPv4 and IPv6 allow lists, IPv4-mapped IPv6 addresses as IPv4', async () => {
    await start({ KEYPLANE_DELIVERY_ALLOW_IPS: '2001:db8::/32,127.0.0.1/32', KEYPLANE_TRUSTED_PROXIES: '1' });
    expect((await viaKeys({ 'X-Forwarded-For': '2001:db8::5' })).status).toBe(200);
    expect((await viaKeys({ 'X-Forwarded-For': '2001:db9::1' })).body).toMatchObject({ reason: 'ip_denied' });
    expect((await viaKeys({ 'X-Forwarded-For': '127.0.0.1' })).status).toBe(200);
    expect((await viaKeys({ 'X-Forwarded-For': '10.0.0.1' })).status).toBe(403);
    expect((await viaKeys({ 'X-Forwarded-For': '::ffff:127.0.0.1' })).status).toBe(200);
    expect((await viaKeys({ 'X-Forwarded-For': '::ffff:10.0.0.1' })).status).toBe(403);
  });

  it('allows the local client when the list names it and no proxy is trusted', async () => {
    await start({ KEYPLANE_DELIVERY_ALLOW_IPS: '127.0.0.0/8,::1' });
    expect((await viaKeys()).status).toBe(200);
  });
});

describe('global origin rules', () => {
  beforeEach(async () => {
    await start({ KEYPLANE_DELIVERY_ALLOW_ORIGINS: 'https://player.example.com,https://*.example.org' });
  });

  it('allows listed origins (exact or wildcard subdomain) and echoes them for CORS', async () => {
    const res = await viaPlayback({ Origin: 'https://player.example.com' });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://player.example.com');
    expect((await viaPlayback({ Referer: 'https://tv.eu.example.org/watch?v=1' })).status).toBe(200);
  });

  it.each([
    [{ Origin: 'https://evil.example.com' }],
    [{ Origin: 'http://player.example.com' }],
    [{ Origin: 'https://player.example.com:8443' }],
    [{ Origin: 'null' }],
    [{ Referer: 'https://example.org/' }],
    [{ Referer: 'https://example.org.evil.net/' }],
  ])('refuses %j with origin_denied', async (headers) => {
    const res = await viaPlayback(headers);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'origin_denied' });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('judges requests without Origin or Referer (keyserver proxies) by address only', async () => {
    expect((await viaKeys()).status).toBe(200);
  });
});

describe('per-resource policies', () => {
  beforeEach(async () => {
    await start({ KEYPLANE_TRUSTED_PROXIES: 'loopback' });
  });
  const put = (body: unknown, key = ADMIN_KEY) =>
    request(t.app)
      .put('/resources/vod-1/policy')
      .set('x-api-key', key)
      .send(body as object);

  it('stores, shows, applies and removes a policy', async () => {
    const created = await put({ denyIps: ['203.0.113.7'], allowOrigins: ['https://player.example.com'] });
    expect(created.status).toBe(200);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', created);
    const shown = await request(t.app).get('/resources/vod-1/policy').set(admin);
    expectMatchesSpec('get', '/resources/{resourceId}/policy', shown);
    expect(shown.body).toMatchObject({ resourceId: 'vod-1', denyIps: ['203.0.113.7'], allowIps: [] });

    const denied = await viaKeys({ 'X-Forwarded-For': '203.0.113.7' });
    expect(denied.body).toMatchObject({ reason: 'ip_denied' });
    expect(denied.body.message).toMatch(/resource/);
    expect((await viaPlayback({ Origin: 'https://other.example.com' })).body).toMatchObject({
      reason: 'origin_denied',
    });
    const other = await t.deps.staticKeys.create({ resourceId: 'vod-2' }, 'default');
    const otherRes = await request(t.app)
      .get(`/keys/vod-2/${other.kid}`)
      .set({ 'x-api-key': t.keyserverKey, 'X-Forwarded-For': '203.0.113.7' });
    expect(otherRes.status).toBe(200);

    const del = await request(t.app).delete('/resources/vod-1/policy').set(admin);
    expect(del.status).toBe(204);
    expectMatchesSpec('delete', '/resources/{resourceId}/policy', del);
    expect((await viaKeys({ 'X-Forwarded-For': '203.0.113.7' })).status).toBe(200);
    const gone = await request(t.app).get('/resources/vod-1/policy').set(admin);
    expect(gone.status).toBe(404);
    expectMatchesSpec('get', '/resources/{resourceId}/policy', gone);
  });

  it.each([
    [{ denyIps: ['300.1.2.3'] }, /denyIps/],
    [{ allowIps: ['10.0.0.0/33'] }, /allowIps/],
    [{ allowOrigins: ['player.example.com'] }, /allowOrigins/],
    [{ allowIps: '10.0.0.1' }, /allowIps must be an array/],
    [{ blockAll: true }, /Unknown field "blockAll"/],
    [[], /JSON object/],
  ])('rejects %j with 400', async (body, message) => {
    const res = await put(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', res);
  });

  it('is admin only', async () => {
    const res = await put({ denyIps: ['203.0.113.7'] }, t.keyserverKey);
    expect(res.status).toBe(403);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', res);
  });
});

// Every Backend keeps policies (see policy-contract.ts, dynamodb-access-policy.test.ts); should a
// backend's policies be missing anyway (hidden here), the policy routes answer 501.
describe('per-resource policies on a key store that keeps none', () => {
  it('answers 501 and still serves keys under the global rules', async () => {
    await start({});
    const backends = localBackends(t.config);
    const hidden: Backend = new Proxy(backends.store, {
      get: (target, prop) => (prop === 'policies' ? undefined : Reflect.get(target, prop, target)),
    });
    const deps = buildDeps(t.config, { ...backends, store: hidden }, { logger: pino({ level: 'silent' }) });
    try {
      const app = createApp(deps);
      const res = await request(app).get('/resources/vod-1/policy').set(admin);
      expect(res.status).toBe(501);
      expect(res.body.message).toMatch(/keeps no per-resource policies/);
      expectMatchesSpec('get', '/resources/{resourceId}/policy', res);
      expect((await request(app).get(`/keys/vod-1/${kid}`).set('x-api-key', t.keyserverKey)).status).toBe(200);
    } finally {
      await backends.store.close();
    }
  });
});
