import crypto from 'node:crypto';
import request from 'supertest';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startMoto } from '../helpers/moto';
import { expectMatchesSpec } from '../helpers/openapi';
import { TcpSwitch } from '../helpers/tcp-switch';
import { ADMIN_KEY } from '../helpers/test-app';

// Per-resource delivery policies on the AWS backends: DynamoDB store (through a switch, to take it
// away) and KMS cipher, both in moto. Client addresses come from X-Forwarded-For (loopback trusted).

const admin = { 'x-api-key': ADMIN_KEY };
const POLICY = { allowIps: ['198.51.100.0/24', '2001:db8::/32'], denyIps: ['198.51.100.66'] };

let app: RunningApp;
let dynamo: TcpSwitch;
let drop: () => Promise<void>;
let url: string;

beforeAll(async () => {
  const endpoint = startMoto();
  const fresh = await freshTable(endpoint);
  drop = fresh.drop;
  dynamo = await TcpSwitch.start(Number(new URL(endpoint).port));
  const store = dynamoDbBackend(dynamoClient(dynamo.endpoint), fresh.table);
  const cipher = new KmsEnvelopeCipher(kmsClient(endpoint), {
    keyId: await createKmsKey(endpoint),
    encryptionContext: { app: 'keyplane', deployment: `policy-test-${crypto.randomUUID()}` },
  });
  app = await startBackendApp({ store, cipher }, undefined, { KEYPLANE_TRUSTED_PROXIES: 'loopback' });
  url = `http://127.0.0.1:${app.port}`;
}, 300_000);
afterAll(async () => {
  await app?.close();
  await dynamo?.close();
  await drop?.();
});

/** A fresh resource with a static key, for one test. */
async function resource(): Promise<{ resourceId: string; kid: string }> {
  const resourceId = `vod-${crypto.randomUUID()}`;
  const { kid } = await app.deps.staticKeys.create({ resourceId }, 'default');
  return { resourceId, kid };
}

const policyPath = (resourceId: string) => `/resources/${resourceId}/policy`;
const putPolicy = (resourceId: string, body: unknown, key = ADMIN_KEY) =>
  request(url)
    .put(policyPath(resourceId))
    .set('x-api-key', key)
    .send(body as object);
const deliver = (r: { resourceId: string; kid: string }, ip: string) =>
  request(url).get(`/keys/${r.resourceId}/${r.kid}`).set({ 'x-api-key': app.keyserverKey, 'X-Forwarded-For': ip });

describe('per-resource policies on the DynamoDB store', () => {
  it('stores a policy with PUT and applies it to key delivery: allowed IP 200, disallowed 403 ip_denied', async () => {
    const r = await resource();
    const put = await putPolicy(r.resourceId, POLICY);
    expect(put.status).toBe(200);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', put);
    expect(put.body).toMatchObject({ resourceId: r.resourceId, ...POLICY, allowOrigins: [] });

    const allowed = await deliver(r, '198.51.100.1');
    expect(allowed.status).toBe(200);
    expect(allowed.body).toHaveLength(16);
    expect((await deliver(r, '2001:db8::5')).status).toBe(200);
    for (const ip of ['203.0.113.9', '198.51.100.66', '2001:db9::1']) {
      const denied = await deliver(r, ip);
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ error: 'forbidden', reason: 'ip_denied' });
      expect(denied.body.message).toMatch(/resource delivery policy/);
      expect(denied.headers['cache-control']).toBe('no-store');
    }
    const other = await resource();
    expect((await deliver(other, '203.0.113.9')).status).toBe(200);
  });

  it('shows, replaces and deletes a policy; delivery follows each change', async () => {
    const r = await resource();
    await putPolicy(r.resourceId, POLICY).expect(200);
    const shown = await request(url).get(policyPath(r.resourceId)).set(admin);
    expect(shown.status).toBe(200);
    expectMatchesSpec('get', '/resources/{resourceId}/policy', shown);
    expect(shown.body).toEqual({
      resourceId: r.resourceId,
      ...POLICY,
      allowOrigins: [],
      updatedAt: expect.any(String),
    });

    await putPolicy(r.resourceId, { denyIps: ['198.51.100.1'] }).expect(200);
    expect((await request(url).get(policyPath(r.resourceId)).set(admin)).body).toMatchObject({
      allowIps: [],
      denyIps: ['198.51.100.1'],
    });
    expect((await deliver(r, '198.51.100.1')).status).toBe(403);
    expect((await deliver(r, '203.0.113.9')).status).toBe(200);

    const del = await request(url).delete(policyPath(r.resourceId)).set(admin);
    expect(del.status).toBe(204);
    expectMatchesSpec('delete', '/resources/{resourceId}/policy', del);
    expect((await deliver(r, '198.51.100.1')).status).toBe(200);
    const gone = await request(url).get(policyPath(r.resourceId)).set(admin);
    expect(gone.status).toBe(404);
    expectMatchesSpec('get', '/resources/{resourceId}/policy', gone);
    expect((await request(url).delete(policyPath(r.resourceId)).set(admin)).status).toBe(404);
  });

  it.each([
    ['an invalid address', { denyIps: ['300.1.2.3'] }, 400, /denyIps/],
    ['a CIDR prefix too long', { allowIps: ['10.0.0.0/33'] }, 400, /allowIps/],
    ['an origin without scheme', { allowOrigins: ['player.example.com'] }, 400, /allowOrigins/],
    ['a string for a list', { allowIps: '10.0.0.1' }, 400, /must be an array/],
    ['101 entries', { denyIps: Array.from({ length: 101 }, (_, i) => `10.0.0.${i % 250}`) }, 400, /at most 100/],
    ['an unknown field', { blockAll: true }, 400, /Unknown field "blockAll"/],
    ['an array body', [], 400, /JSON object/],
  ])('refuses %s with a 4xx and keeps the stored policy', async (_, body, status, message) => {
    const r = await resource();
    const before = (await putPolicy(r.resourceId, POLICY).expect(200)).body;
    const res = await putPolicy(r.resourceId, body);
    expect(res.status).toBe(status);
    expect(res.body.message).toMatch(message);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', res);
    expect((await request(url).get(policyPath(r.resourceId)).set(admin)).body).toEqual(before);
    expect((await deliver(r, '203.0.113.9')).status).toBe(403);
  });

  it('refuses malformed JSON, a non-JSON or oversize body, a bad resource ID and a non-admin with a 4xx, storing nothing', async () => {
    const r = await resource();
    const raw = (type: string, body: string) =>
      request(url).put(policyPath(r.resourceId)).set(admin).set('content-type', type).send(body);
    const malformed = await raw('application/json', '{"denyIps": [');
    expect(malformed.status).toBe(400);
    const text = await raw('text/plain', JSON.stringify(POLICY));
    expect(text.status).toBe(400);
    expect(text.body.message).toMatch(/JSON object/);
    const oversize = { denyIps: Array.from({ length: 100 }, () => `2001:db8::1/128${' '.repeat(200)}`) };
    const tooLarge = await putPolicy(r.resourceId, oversize);
    expect(tooLarge.status).toBe(413);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', tooLarge);
    for (const method of ['put', 'get', 'delete'] as const) {
      const badId = await request(url)[method]('/resources/-bad%23id/policy').set(admin).send(POLICY);
      expect(badId.status).toBe(400);
      expect(badId.body.message).toMatch(/resourceId/);
      expectMatchesSpec(method, '/resources/{resourceId}/policy', badId);
    }
    const notAdmin = await putPolicy(r.resourceId, POLICY, app.keyserverKey);
    expect(notAdmin.status).toBe(403);
    expectMatchesSpec('put', '/resources/{resourceId}/policy', notAdmin);
    expect((await request(url).get(policyPath(r.resourceId)).set(admin)).status).toBe(404);
    expect((await deliver(r, '203.0.113.9')).status).toBe(200);
  });

  it('answers 503 with Retry-After while DynamoDB is down (delivery fails closed), and recovers', async () => {
    const r = await resource();
    await putPolicy(r.resourceId, POLICY).expect(200);
    await dynamo.set('down');
    try {
      const results = [
        ['put', await putPolicy(r.resourceId, { denyIps: [] })],
        ['get', await request(url).get(policyPath(r.resourceId)).set(admin)],
        ['delete', await request(url).delete(policyPath(r.resourceId)).set(admin)],
      ] as const;
      for (const [method, res] of results) {
        expect({ method, status: res.status, error: res.body.error }).toEqual({
          method,
          status: 503,
          error: 'unavailable',
        });
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expectMatchesSpec(method, '/resources/{resourceId}/policy', res);
      }
      expect((await deliver(r, '203.0.113.9')).status).toBe(503);
    } finally {
      await dynamo.set('forward');
    }
    expect((await request(url).get(policyPath(r.resourceId)).set(admin)).body).toMatchObject(POLICY);
    expect((await deliver(r, '203.0.113.9')).status).toBe(403);
    expect((await deliver(r, '198.51.100.1')).status).toBe(200);
  }, 60_000);
});
