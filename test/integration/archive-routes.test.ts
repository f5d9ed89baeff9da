import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { buildKeyArchive, readKeyArchive } from '../../src/cpix/key-archive';
import { ROOT } from '../helpers/paths';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const CERT_B64 = fs.readFileSync(path.join(ROOT, 'test/fixtures/certs/delivery.der.b64'), 'utf8').trim();
const PRIVATE_KEY = crypto.createPrivateKey(fs.readFileSync(path.join(ROOT, 'test/fixtures/certs/delivery-key.pem')));

let t: TestApp;
let adminAcme: string;
let encoderAcme: string;

beforeAll(async () => {
  t = await makeTestApp();
  adminAcme = (await t.deps.apiKeys.create('admin-acme', ['admin'], 'acme')).key;
  encoderAcme = (await t.deps.apiKeys.create('enc-acme', ['encoder'], 'acme')).key;
});
afterAll(async () => t.close());

const doc = (resourceId: string, keys: { kid: string; key: Buffer; iv?: Buffer }[]) =>
  buildKeyArchive({ resourceId, keys });
const importDoc = (key: string, xml: string, query = '') =>
  request(t.app).post(`/imports${query}`).set('x-api-key', key).set('content-type', 'application/xml').send(xml);

describe('POST /imports and GET /exports/{resourceId}', () => {
  const kid = crypto.randomUUID();
  const key = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);

  it('imports into the caller tenant (dry run writes nothing), serves the key, re-import is unchanged', async () => {
    const xml = doc('acme-film', [{ kid, key, iv }]);
    const dry = await importDoc(adminAcme, xml, '?dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ resourceId: 'acme-film', tenant: 'acme', imported: [kid], dryRun: true });
    expect((await t.deps.store.keys.get([kid])).size).toBe(0);

    const done = await importDoc(adminAcme, xml);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ imported: [kid], unchanged: [], conflicts: [] });
    const served = await request(t.app).get(`/keys/acme-film/${kid}`).set('x-api-key', ADMIN_KEY);
    expect(served.status).toBe(200);
    expect(Buffer.from(served.body as Buffer)).toEqual(key);
    expect((await importDoc(adminAcme, xml)).body).toMatchObject({ imported: [], unchanged: [kid] });
    expect(await t.deps.store.resources.get('acme-film')).toMatchObject({ tenant: 'acme', kind: 'speke' });
  });

  it('reports conflicts with 409 and writes nothing; only admins, only their own tenant', async () => {
    const clash = await importDoc(ADMIN_KEY, doc('acme-film', [{ kid, key: crypto.randomBytes(16) }]), '?tenant=acme');
    expect(clash.status).toBe(409);
    expect(clash.body.conflicts).toEqual([{ kid, reason: 'KID is bound to a different key' }]);
    const elsewhere = await importDoc(ADMIN_KEY, doc('other', [{ kid, key }]));
    expect(elsewhere.body.conflicts).toEqual([{ kid, reason: 'KID is bound to another resource ("acme-film")' }]);
    expect(await t.deps.store.resources.get('other')).toBeUndefined();
    // A tenant's admin learns the KID is taken, not by which resource.
    const probe = await importDoc(adminAcme, doc('probe', [{ kid, key }]));
    expect(probe.body.conflicts).toEqual([{ kid, reason: 'KID is bound to another resource' }]);
    expect((await importDoc(encoderAcme, doc('x', [{ kid: crypto.randomUUID(), key }]))).status).toBe(403);
    const foreign = await importDoc(adminAcme, doc('x', [{ kid: crypto.randomUUID(), key }]), '?tenant=globex');
    expect(foreign.status).toBe(403);
    expect(foreign.body.message).toContain('tenant "acme" only');
    const enc = buildKeyArchive({ resourceId: 'y', keys: [{ kid: crypto.randomUUID(), key }] }, undefined).replace(
      'contentId="y"',
      '',
    );
    expect((await importDoc(adminAcme, enc)).body.message).toContain('no contentId');
  });

  it('takes the same document sent twice at once as a retry: both 200, the key unchanged for one', async () => {
    for (let i = 0; i < 5; i += 1) {
      const xml = doc(`race-same-${i}`, [{ kid: crypto.randomUUID(), key: crypto.randomBytes(16) }]);
      const [a, b] = await Promise.all([importDoc(ADMIN_KEY, xml), importDoc(ADMIN_KEY, xml)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect([...a.body.imported, ...b.body.imported]).toHaveLength(1);
    }
  });

  it('answers a race of different keys for one KID with 409, says what went in, and audits the 409', async () => {
    const [k1, k2] = [crypto.randomUUID(), crypto.randomUUID()];
    const [a, b] = await Promise.all([
      importDoc(ADMIN_KEY, doc('race-diff', [{ kid: k1, key: crypto.randomBytes(16) }])),
      importDoc(
        ADMIN_KEY,
        doc('race-diff', [
          { kid: k1, key: crypto.randomBytes(16) },
          { kid: k2, key: crypto.randomBytes(16) },
        ]),
      ),
    ]);
    const refused = [a, b].filter((r) => r.status === 409);
    for (const r of refused) {
      for (const kid of r.body.imported as string[]) expect((await t.deps.store.keys.get([kid])).has(kid)).toBe(true);
    }
    const records = (await t.deps.store.audit.query({ resourceId: 'race-diff', limit: 10 })).records;
    expect(records.map((r) => r.status).sort()).toEqual([a.status, b.status].sort());
  });

  it('names the header a bad recipient certificate came from', async () => {
    const res = await request(t.app)
      .get('/exports/acme-film')
      .set('x-api-key', ADMIN_KEY)
      .set('x-keyplane-recipient-certificate', 'AAAA');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      'The delivery certificate (the x-keyplane-recipient-certificate header) is not a parsable X.509 DER certificate',
    );
  });

  it("never tells a tenant's admin whether a key it holds is another tenant's", async () => {
    const bravoKid = crypto.randomUUID();
    const bravoKey = crypto.randomBytes(16);
    const adminBravo = (await t.deps.apiKeys.create('admin-bravo', ['admin'], 'bravo')).key;
    expect((await importDoc(adminBravo, doc('bravo-film', [{ kid: bravoKid, key: bravoKey }]))).status).toBe(200);
    // acme holds what may be bravo's leaked key: the right one and a wrong one get the same answer.
    for (const guess of [bravoKey, crypto.randomBytes(16)]) {
      for (const query of ['?dryRun=true', '']) {
        const res = await importDoc(adminAcme, doc('bravo-film', [{ kid: bravoKid, key: guess }]), query);
        expect(res.status).toBe(409);
        expect(res.body).toMatchObject({
          unchanged: [],
          conflicts: [{ reason: 'resource belongs to another tenant' }],
        });
      }
    }
  });

  it('exports encrypted to the header certificate, plaintext only on request, 404 for another tenant, audited', async () => {
    const none = await request(t.app).get('/exports/acme-film').set('x-api-key', adminAcme);
    expect(none.status).toBe(400);
    expect(none.body.message).toContain('plaintext=true');
    const res = await request(t.app)
      .get('/exports/acme-film')
      .set('x-api-key', adminAcme)
      .set('x-keyplane-recipient-certificate', CERT_B64)
      .buffer(true)
      .parse((r, cb) => {
        let s = '';
        r.on('data', (c: Buffer) => (s += c.toString('utf8')));
        r.on('end', () => cb(null, s));
      });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toContain('no-store');
    const xml = res.body as string;
    expect(xml).not.toContain('PlainValue');
    expect(readKeyArchive(xml, { privateKey: PRIVATE_KEY }).keys).toEqual([{ kid, key, iv }]);
    const plain = await request(t.app)
      .get('/exports/acme-film?plaintext=true')
      .set('x-api-key', adminAcme)
      .buffer(true);
    expect(plain.status).toBe(200);
    const other = (await t.deps.apiKeys.create('admin-globex', ['admin'], 'globex')).key;
    expect((await request(t.app).get('/exports/acme-film?plaintext=true').set('x-api-key', other)).status).toBe(404);
    const audit = await t.deps.store.audit.query({ resourceId: 'acme-film', limit: 50 });
    const reasons = audit.records.map((r) => r.reason ?? '');
    expect(reasons.filter((r) => r.startsWith('export:'))).toEqual([
      expect.stringMatching(/^export:cert-sha256:[0-9a-f]{64} keys:1$/),
      'export:plaintext keys:1',
    ]);
    expect(reasons).toContain('import keys:1');
  });
});
