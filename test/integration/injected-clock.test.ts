import request from 'supertest';
import { fixture } from '../helpers/fixtures';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

// Every service reads the clock the app is built with: leases, API keys, tokens and their checks, the
// audit trail. A clock years ahead of the machine's shows whichever part still reads the real one.

const START = Date.parse('2031-03-01T00:00:00Z');
let at = START;
let t: TestApp;
const admin = { 'x-api-key': ADMIN_KEY };
const KID = '6c5f5206-7d98-4808-84d8-94f132c1e9fe';
const RESOURCE = 'MovieNight20171126093045';

beforeAll(async () => {
  t = await makeTestApp({ KEYPLANE_LEASE_TTL_SECONDS: '600' }, { now: () => new Date(at) });
});
afterAll(async () => {
  await t.close();
});

describe('one injected clock', () => {
  it('times leases, API keys, playback tokens (issued and checked) and audit records', async () => {
    const speke = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('Content-Type', 'application/xml')
      .send(fixture('v1/hls-single-key.xml'));
    expect(speke.status).toBe(200);
    expect((await t.deps.store.leases.get(RESOURCE))?.expiresAt.getTime()).toBe(START + 600_000);

    const created = await request(t.app)
      .post('/api-keys')
      .set(admin)
      .send({ name: 'proxy-2', roles: ['keyserver'] });
    expect(created.status).toBe(201);
    const listed = await request(t.app).get('/api-keys').set(admin);
    const mine = (listed.body.apiKeys as { id: string; createdAt: string }[]).find((k) => k.id === created.body.id);
    expect(mine?.createdAt).toBe(new Date(START).toISOString());

    const minted = await request(t.app)
      .post('/playback-tokens')
      .set(admin)
      .send({ resourceId: RESOURCE, ttlSeconds: 60 });
    expect(minted.status).toBe(201);
    const claims = JSON.parse(Buffer.from(String(minted.body.token).split('.')[1] as string, 'base64url').toString());
    expect(claims.exp).toBe(START / 1000 + 60);
    const key = () => request(t.app).get(`/playback/${minted.body.token}/keys/${RESOURCE}/${KID}`);
    expect((await key()).status).toBe(200);
    at = START + 61_000;
    expect((await key()).status).toBe(410);

    const audit = await request(t.app).get(`/audit?resourceId=${RESOURCE}`).set(admin);
    expect(audit.status).toBe(200);
    const times = (audit.body.records as { time: string }[]).map((r) => Date.parse(r.time));
    expect(times.length).toBeGreaterThan(0);
    for (const time of times) expect(time).toBeGreaterThanOrEqual(START);
  });
});
