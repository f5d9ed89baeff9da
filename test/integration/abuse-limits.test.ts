import crypto from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoopbackClient, type HttpResult } from '../helpers/http-client';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const RESOURCE = 'abuse-vod-1';
const json = (res: HttpResult) => JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;

/** An app listening on loopback, trusting loopback proxies (so X-Forwarded-For names the client). */
async function start(
  env: Record<string, string>,
): Promise<{ t: TestApp; client: LoopbackClient; close: () => Promise<void> }> {
  const t = await makeTestApp({ KEYPLANE_TRUSTED_PROXIES: 'loopback', ...env });
  const server = await new Promise<Server>((resolve) => {
    const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const client = new LoopbackClient((server.address() as AddressInfo).port, 4);
  return {
    t,
    client,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
    },
  };
}

const from = (ip: string, headers: Record<string, string> = {}) => ({ 'x-forwarded-for': ip, ...headers });

describe('abuse limits (KEYPLANE_RATE_LIMIT_FAILED_AUTH=20)', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let kid: string;
  beforeAll(async () => {
    s = await start({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: '20' });
    ({ kid } = await s.t.deps.staticKeys.create({ resourceId: RESOURCE }, 'default'));
  });
  afterAll(async () => {
    await s.close();
  });

  it('answers 429 with Retry-After and a message after 20 wrong API keys from one address', async () => {
    const statuses: number[] = [];
    let last: HttpResult | undefined;
    for (let i = 0; i < 30; i += 1) {
      last = await s.client.send({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: from('198.51.100.1', { 'x-api-key': `kp_guess_${crypto.randomBytes(8).toString('hex')}` }),
      });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 20).every((st) => st === 401)).toBe(true);
    expect(statuses.slice(20).every((st) => st === 429)).toBe(true);
    expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(json(last as HttpResult)).toMatchObject({ error: 'rate_limited', reason: 'rate_limited' });
    expect(String(json(last as HttpResult).message)).toMatch(
      /Too many failed or unauthenticated requests.*retry after \d+ s/,
    );
    // The health check of a load balancer sharing that address still answers, and the block stays.
    const health = await s.client.send({ method: 'GET', path: '/healthz', headers: from('198.51.100.1') });
    expect(health.status).toBe(200);
    const after = await s.client.send({
      method: 'GET',
      path: `/keys/${RESOURCE}/${kid}`,
      headers: from('198.51.100.1', { 'x-api-key': `kp_guess_${crypto.randomBytes(8).toString('hex')}` }),
    });
    expect(after.status).toBe(429);
  });

  it('counts guessed playback tokens in the path the same way', async () => {
    const fake = `${'a'.repeat(20)}.${'b'.repeat(40)}.${'c'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 25; i += 1) {
      const res = await s.client.send({
        method: 'GET',
        path: `/playback/${fake}/keys/${RESOURCE}/${kid}`,
        headers: from('198.51.100.2'),
      });
      statuses.push(res.status);
    }
    expect(statuses.filter((st) => st === 401)).toHaveLength(20);
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429]);
  });

  it('does not limit another address', async () => {
    const res = await s.client.send({ method: 'GET', path: `/keys/${RESOURCE}/${kid}`, headers: from('198.51.100.3') });
    expect(res.status).toBe(401);
  });

  it('never answers 429 to a valid key at full speed (2,000 requests), nor to the health check', async () => {
    const proxy = (await s.t.deps.apiKeys.create('busy-proxy', ['keyserver'])).key;
    const counts = new Map<number, number>();
    const one = async () => {
      const res = await s.client.send({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: from('198.51.100.4', { 'x-api-key': proxy }),
      });
      counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
    };
    for (let i = 0; i < 500; i += 1) await Promise.all([one(), one(), one(), one()]);
    expect(Object.fromEntries(counts)).toEqual({ 200: 2000 });
    const health = await s.client.send({ method: 'GET', path: '/heartbeat', headers: from('198.51.100.4') });
    expect(health.status).toBe(200);
  });
});

describe('the limiter forgets the least recently seen address beyond KEYPLANE_RATE_LIMIT_MAX_CLIENTS', () => {
  it('tracks at most 100 addresses: 150 others push the blocked one out', async () => {
    const s = await start({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: '5', KEYPLANE_RATE_LIMIT_MAX_CLIENTS: '100' });
    try {
      const guess = (ip: string) =>
        s.client.send({ method: 'GET', path: '/api-keys', headers: from(ip, { 'x-api-key': 'kp_x' }) });
      for (let i = 0; i < 5; i += 1) await guess('192.0.2.1');
      expect((await guess('192.0.2.1')).status).toBe(429);
      for (let i = 0; i < 150; i += 1) await guess(`203.0.113.${i}`);
      // Memory stayed bounded: the first address was forgotten (so it starts afresh).
      expect((await guess('192.0.2.1')).status).toBe(401);
    } finally {
      await s.close();
    }
  });
});

describe('per-credential limit (off by default)', () => {
  it('answers 429 to the 11th request of one credential within a minute when set to 10', async () => {
    const s = await start({ KEYPLANE_RATE_LIMIT_PER_CREDENTIAL: '10' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i += 1) {
        statuses.push(
          (await s.client.send({ method: 'GET', path: '/api-keys', headers: { 'x-api-key': ADMIN_KEY } })).status,
        );
      }
      expect(statuses).toEqual([...Array(10).fill(200), 429, 429]);
      const other = await s.client.send({ method: 'GET', path: '/audit', headers: { 'x-api-key': s.t.keyserverKey } });
      expect(other.status).not.toBe(429);
    } finally {
      await s.close();
    }
  });

  it('is off when KEYPLANE_RATE_LIMIT_FAILED_AUTH is off: 200 wrong keys are all 401', async () => {
    const s = await start({ KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'off' });
    try {
      const statuses = new Set<number>();
      for (let i = 0; i < 200; i += 1) {
        statuses.add(
          (await s.client.send({ method: 'GET', path: '/api-keys', headers: { 'x-api-key': 'kp_wrong' } })).status,
        );
      }
      expect([...statuses]).toEqual([401]);
    } finally {
      await s.close();
    }
  });
});
