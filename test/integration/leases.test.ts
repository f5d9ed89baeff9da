import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { MAX_LEASE_KIDS } from '../../src/keys/lease-policy';
import { DIST_SERVER } from '../helpers/paths';
import { freePort } from '../helpers/server-process';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
afterEach(async () => {
  await t.close();
});

const doc = (resourceId: string, kids: string[], period?: { id: string; index: number }) => {
  const keys = kids.map((k) => `<cpix:ContentKey kid="${k}"/>`).join('');
  const drm = kids
    .map(
      (k) =>
        `<cpix:DRMSystem kid="${k}" systemId="81376844-f976-481e-a84e-cc25d39b0b33"><cpix:URIExtXKey/></cpix:DRMSystem>`,
    )
    .join('');
  const periods = period
    ? `<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="${period.id}" index="${period.index}"/></cpix:ContentKeyPeriodList>` +
      `<cpix:ContentKeyUsageRuleList>${kids.map((k) => `<cpix:ContentKeyUsageRule kid="${k}"><cpix:KeyPeriodFilter periodId="${period.id}"/></cpix:ContentKeyUsageRule>`).join('')}</cpix:ContentKeyUsageRuleList>`
    : '';
  return `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke"><cpix:ContentKeyList>${keys}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList>${periods}</cpix:CPIX>`;
};
const kid = (n: number) => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;

describe('one resource ID, one encryption process', () => {
  beforeEach(async () => {
    t = await makeTestApp({ KEYPLANE_LEASE_TTL_SECONDS: '600' });
  });
  const post = (body: string, key = t.encoderKey) =>
    request(t.app).post('/copyProtection').set('x-api-key', key).set('Content-Type', 'application/xml').send(body);

  it('rejects a second caller with 409, naming the resource and the lease end, with Retry-After', async () => {
    expect((await post(doc('movie-1', [kid(1)]))).status).toBe(200);
    const res = await post(doc('movie-1', [kid(2)]), t.encoder2Key);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/Resource ID "movie-1" is in use by another encryption process until \d{4}-/);
    expect(res.body.resourceId).toBe('movie-1');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(590);
    expect(await t.deps.store.keys.get([kid(2)])).toEqual(new Map());
  });

  it('rejects the same caller starting a new process (new KIDs, no key period)', async () => {
    expect((await post(doc('movie-2', [kid(1)]))).status).toBe(200);
    expect((await post(doc('movie-2', [kid(3)]))).status).toBe(409);
  });

  it('lets the owner retry a request with more KIDs than a lease remembers, and still refuses a new one', async () => {
    const kids = Array.from({ length: MAX_LEASE_KIDS + 1 }, (_, i) => kid(1000 + i));
    const first = await post(doc('movie-big', kids));
    expect(first.status).toBe(200);
    const again = await post(doc('movie-big', kids));
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect((await t.deps.store.leases.get('movie-big'))?.kids).toHaveLength(MAX_LEASE_KIDS);
    expect((await post(doc('movie-big', [...kids, kid(9999)]))).status).toBe(409);
    expect(await t.deps.store.keys.get([kid(9999)])).toEqual(new Map());
  });

  it('lets the owner retry, and rotate keys under new periods', async () => {
    expect((await post(doc('live-1', [kid(1)], { id: 'p1', index: 1 }))).status).toBe(200);
    expect((await post(doc('live-1', [kid(1)], { id: 'p1', index: 1 }))).status).toBe(200);
    expect((await post(doc('live-1', [kid(2)], { id: 'p2', index: 2 }))).status).toBe(200);
    expect((await post(doc('live-1', [kid(3)], { id: 'p3', index: 3 }), t.encoder2Key)).status).toBe(409);
  });

  it('frees the resource ID on DELETE /leases/{id}; old keys stay retrievable', async () => {
    const first = await post(doc('movie-3', [kid(1)]));
    expect(first.status).toBe(200);
    const del = await request(t.app).delete('/leases/movie-3').set('x-api-key', ADMIN_KEY);
    expect(del.status).toBe(204);
    expect((await post(doc('movie-3', [kid(5)]), t.encoder2Key)).status).toBe(200);
    const old = await request(t.app)
      .get(`/keys/movie-3/${kid(1)}`)
      .set('x-api-key', t.keyserverKey);
    expect(old.status).toBe(200);
    expect((await request(t.app).delete('/leases/movie-3').set('x-api-key', t.encoderKey)).status).toBe(403);
  });

  it('lets the encoder holding a lease release it, and no other encoder', async () => {
    expect((await post(doc('movie-4', [kid(1)]))).status).toBe(200);
    const other = await request(t.app).delete('/leases/movie-4').set('x-api-key', t.encoder2Key);
    expect(other.status).toBe(403);
    expect(other.body.message).toBe(
      'The lease on "movie-4" is held by another encryption process: only its holder or an admin may release it',
    );
    expect((await post(doc('movie-4', [kid(6)]), t.encoder2Key)).status).toBe(409);
    expect((await request(t.app).delete('/leases/movie-4').set('x-api-key', t.encoderKey)).status).toBe(204);
    expect((await request(t.app).delete('/leases/movie-4').set('x-api-key', t.encoderKey)).status).toBe(404);
    expect((await post(doc('movie-4', [kid(6)]), t.encoder2Key)).status).toBe(200);
    expect((await request(t.app).delete('/leases/movie-4').set('x-api-key', t.keyserverKey)).status).toBe(403);
  });

  it('gives exactly one 200 for 30 concurrent conflicting requests', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => post(doc('race-1', [kid(100 + i)]))));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(29);
  });
});

describe('lease expiry', () => {
  beforeEach(async () => {
    t = await makeTestApp({ KEYPLANE_LEASE_TTL_SECONDS: '1' });
  });
  it('lets a new process use the resource ID after the lease expires', async () => {
    const post = (body: string, key: string) =>
      request(t.app).post('/copyProtection').set('x-api-key', key).set('Content-Type', 'application/xml').send(body);
    expect((await post(doc('expiring', [kid(1)]), t.encoderKey)).status).toBe(200);
    expect((await post(doc('expiring', [kid(2)]), t.encoder2Key)).status).toBe(409);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await post(doc('expiring', [kid(2)]), t.encoder2Key)).status).toBe(200);
  });
});

describe('two server processes on one data dir', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-2proc-'));
  const procs: ChildProcess[] = [];
  let ports: number[] = [];
  const start = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [DIST_SERVER], {
        env: {
          ...process.env,
          KEYPLANE_DATA_DIR: dataDir,
          KEYPLANE_ADMIN_KEY: ADMIN_KEY,
          KEYPLANE_PORT: String(port),
          KEYPLANE_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      procs.push(child);
      child.stdout?.on('data', (d: Buffer) => d.toString().includes('keyplane listening') && resolve());
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
  beforeAll(async () => {
    t = await makeTestApp();
    ports = [await freePort(), await freePort()];
    await Promise.all(ports.map((port) => start(port)));
  });
  afterAll(() => {
    procs.forEach((p) => p.kill('SIGKILL'));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('gives exactly one 200 across both processes for 40 concurrent conflicting requests', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`http://127.0.0.1:${ports[i % 2]}/copyProtection`, {
          method: 'POST',
          headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/xml' },
          body: doc('shared-race', [kid(200 + i)]),
        }).then((r) => r.status),
      ),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(1);
    expect(results.filter((s) => s === 409)).toHaveLength(39);
  });
});
