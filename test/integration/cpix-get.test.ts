/**
 * CPIX by GET against a real app (SQLite, local cipher): the keys SPEKE issued come back as an XSD-valid
 * CPIX 2.3 document, encrypted to the caller's certificate or, with plaintext=true only, in the clear;
 * tenant scope, bounds and the audit trail hold.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { decryptDocument } from '../../src/cpix/decrypt-document';
import { NS } from '../../src/cpix/namespaces';
import { parseXml } from '../../src/cpix/xml-parse';
import { attr, textOf } from '../../src/cpix/xml-tree';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { findAll } from '../helpers/cpix';
import { freshKids, hlsRequest } from '../helpers/cpix-docs';
import { FIXTURES } from '../helpers/fixtures';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';
import { XSD, xsdFailures } from './speke-v2-support';

const certPem = (name: string) => fs.readFileSync(path.join(FIXTURES, 'certs', name), 'utf8');
const DELIVERY_CERT = new crypto.X509Certificate(certPem('delivery.pem')).raw.toString('base64');
const PRIVATE_KEY = crypto.createPrivateKey(certPem('delivery-key.pem'));
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

let t: TestApp;
let rid: string;
let kids: string[];

async function issue(key: string, resourceId: string, ks: string[]): Promise<void> {
  const res = await request(t.app)
    .post('/copyProtection')
    .set(bearer(key))
    .set('Content-Type', 'application/xml')
    .send(hlsRequest(resourceId, ks));
  expect(res.status).toBe(200);
}

async function expectedKey(kid: string): Promise<string> {
  return (await t.deps.keys.get(rid, kid)).key.toString('base64');
}

function plainKeys(xml: string): Map<string, string> {
  const root = parseXml(xml);
  return new Map(
    findAll(root, NS.cpix, 'ContentKey').map((ck) => [
      attr(ck, 'kid') as string,
      textOf(findAll(ck, NS.pskc, 'PlainValue')[0] as typeof root),
    ]),
  );
}

beforeAll(async () => {
  t = await makeTestApp();
  rid = `cpix-get-${crypto.randomUUID()}`;
  kids = freshKids(2);
  await issue(t.encoderKey, rid, kids);
});
afterAll(() => t.close());

describe('GET /cpix/{resourceId}', () => {
  it('plaintext=true: the issued keys with Widevine and PlayReady signalling, XSD-valid CPIX 2.3', async () => {
    const res = await request(t.app)
      .get(`/cpix/${rid}?kid=${kids[0]}&kid=${kids[1]}&drm=widevine&drm=playready&plaintext=true`)
      .set(bearer(t.encoderKey));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/xml/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-cpix-encrypted']).toBe('false');
    expect(xsdFailures(new Map([['plain', res.text]]), XSD['2.3'])).toEqual(new Map());
    const keys = plainKeys(res.text);
    expect([...keys.keys()].sort()).toEqual([...kids].sort());
    for (const kid of kids) expect(keys.get(kid)).toBe(await expectedKey(kid));
    const systems = findAll(parseXml(res.text), NS.cpix, 'DRMSystem').map((d) => attr(d, 'systemId'));
    expect(systems.sort()).toEqual(
      [SYSTEM_IDS.widevine, SYSTEM_IDS.playready, SYSTEM_IDS.widevine, SYSTEM_IDS.playready].sort(),
    );
    expect(findAll(parseXml(res.text), NS.cpix, 'PSSH')).toHaveLength(4);
  });

  it('encrypted to the certificate in X-Cpix-Delivery-Certificate: XSD-valid, decrypts to the same keys', async () => {
    const res = await request(t.app)
      .get(`/cpix/${rid}?kid=${kids.join(',')}&drm=fairplay&scheme=cbcs`)
      .set(bearer(t.encoderKey))
      .set('X-Cpix-Delivery-Certificate', DELIVERY_CERT);
    expect(res.status).toBe(200);
    expect(res.headers['x-cpix-encrypted']).toBe('true');
    expect(res.text).not.toContain('PlainValue');
    expect(xsdFailures(new Map([['enc', res.text]]), XSD['2.3'])).toEqual(new Map());
    const keys = decryptDocument(parseXml(res.text), PRIVATE_KEY);
    for (const kid of kids) expect(keys.get(kid)?.toString('base64')).toBe(await expectedKey(kid));
  });

  it('the bound: 100 KIDs with four PSSH systems in one XSD-valid document', async () => {
    const resourceId = `cpix-max-${crypto.randomUUID()}`;
    const many = freshKids(100);
    await issue(t.encoderKey, resourceId, many);
    const res = await request(t.app)
      .get(`/cpix/${resourceId}?kid=${many.join(',')}&drm=widevine,playready,clearkey,common-pssh&plaintext=true`)
      .set(bearer(t.encoderKey));
    expect(res.status).toBe(200);
    expect(plainKeys(res.text).size).toBe(100);
    expect(findAll(parseXml(res.text), NS.cpix, 'DRMSystem')).toHaveLength(400);
    expect(xsdFailures(new Map([['max', res.text]]), XSD['2.3'])).toEqual(new Map());
  });

  it('without kid=: every key of the resource, oldest first; more than 100 is a 400 asking for kid=', async () => {
    const res = await request(t.app).get(`/cpix/${rid}?plaintext=true`).set(bearer(t.encoderKey));
    expect(res.status).toBe(200);
    const keys = plainKeys(res.text);
    expect([...keys.keys()].sort()).toEqual([...kids].sort());
    for (const kid of kids) expect(keys.get(kid)).toBe(await expectedKey(kid));
    const resourceId = `cpix-101-${crypto.randomUUID()}`;
    await issue(t.encoderKey, resourceId, freshKids(101));
    const over = await request(t.app).get(`/cpix/${resourceId}?plaintext=true`).set(bearer(t.encoderKey));
    expect(over.status).toBe(400);
    expect(over.body.message).toBe('Resource has more than 100 keys: name them with kid=<uuid>');
  });

  it('without a certificate and without plaintext=true: 400 saying how to ask, no key', async () => {
    const res = await request(t.app).get(`/cpix/${rid}?kid=${kids[0]}`).set(bearer(t.encoderKey));
    expect(res.status).toBe(400);
    expect(res.text).toContain('X-Cpix-Delivery-Certificate');
    expect(res.text).toContain('plaintext=true');
    expect(res.text).not.toContain(await expectedKey(kids[0] as string));
  });

  it.each([
    ['a bad kid', 'kid=nope&plaintext=true', 'not a UUID'],
    ['an unknown parameter', `kids=${crypto.randomUUID()}&plaintext=true`, 'Unknown query parameter'],
    ['an unknown drm', `kid=${crypto.randomUUID()}&drm=nope&plaintext=true`, 'drm "nope"'],
    ['a bad scheme', `kid=${crypto.randomUUID()}&scheme=ctr&plaintext=true`, 'scheme "ctr"'],
    [
      'too many KIDs',
      `${freshKids(101)
        .map((k) => `kid=${k}`)
        .join('&')}&plaintext=true`,
      'At most 100 KIDs',
    ],
  ])('%s → 400 naming it', async (_name, query, message) => {
    const res = await request(t.app).get(`/cpix/${rid}?${query}`).set(bearer(t.encoderKey));
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toContain(message);
  });

  it('a bad certificate → 400 like a SPEKE request with one', async () => {
    const res = await request(t.app)
      .get(`/cpix/${rid}?kid=${kids[0]}`)
      .set(bearer(t.encoderKey))
      .set('X-Cpix-Delivery-Certificate', Buffer.from('not a certificate').toString('base64'));
    expect(res.status).toBe(400);
    // It names where the certificate came from: the header, not an element this request does not have.
    expect(res.body.message).toBe(
      'The delivery certificate (the X-Cpix-Delivery-Certificate header) is not a parsable X.509 DER certificate',
    );
    const huge = await request(t.app)
      .get(`/cpix/${rid}?kid=${kids[0]}`)
      .set(bearer(t.encoderKey))
      .set('X-Cpix-Delivery-Certificate', 'A'.repeat(9000));
    expect(huge.status).toBe(400);
    expect(huge.text).toContain('over 8192 characters');
  });

  it('FairPlay with cenc → 422 (its scheme is cbcs)', async () => {
    const res = await request(t.app)
      .get(`/cpix/${rid}?kid=${kids[0]}&drm=fairplay&plaintext=true`)
      .set(bearer(t.encoderKey));
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('FairPlay needs scheme=cbcs, not cenc');
  });

  it('unknown resource → 404; a KID of another resource → 404 naming only the KID', async () => {
    const unknown = await request(t.app)
      .get(`/cpix/nothing-${crypto.randomUUID()}?kid=${kids[0]}&plaintext=true`)
      .set(bearer(t.encoderKey));
    expect(unknown.status).toBe(404);
    const other = `cpix-other-${crypto.randomUUID()}`;
    const otherKids = freshKids(1);
    await issue(t.encoderKey, other, otherKids);
    const res = await request(t.app).get(`/cpix/${rid}?kid=${otherKids[0]}&plaintext=true`).set(bearer(t.encoderKey));
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(other);
  });

  it("another tenant's encoder gets 403 (owner not named); a keyserver credential gets 403; admin * gets the keys", async () => {
    const b = (await t.deps.apiKeys.create('encoder-b', ['encoder'], 'studio-b')).key;
    const theirs = await request(t.app).get(`/cpix/${rid}?kid=${kids[0]}&plaintext=true`).set(bearer(b));
    expect(theirs.status).toBe(403);
    expect(theirs.text).not.toContain('default');
    expect(theirs.text).not.toContain(await expectedKey(kids[0] as string));
    const proxy = await request(t.app).get(`/cpix/${rid}?kid=${kids[0]}&plaintext=true`).set(bearer(t.keyserverKey));
    expect(proxy.status).toBe(403);
    const admin = await request(t.app).get(`/cpix/${rid}?kid=${kids[0]}&plaintext=true`).set(bearer(ADMIN_KEY));
    expect(admin.status).toBe(200);
    expect(plainKeys(admin.text).get(kids[0] as string)).toBe(await expectedKey(kids[0] as string));
  });

  it('a static-key resource → 403 pointing at GET /static-keys, even for the admin', async () => {
    const created = await request(t.app)
      .post('/static-keys')
      .set(bearer(ADMIN_KEY))
      .send({ resourceId: `cpix-static-${crypto.randomUUID()}` });
    expect(created.status).toBe(201);
    const { resourceId, kid } = created.body as { resourceId: string; kid: string };
    for (const key of [t.encoderKey, ADMIN_KEY]) {
      const res = await request(t.app).get(`/cpix/${resourceId}?kid=${kid}&plaintext=true`).set(bearer(key));
      expect(res.status).toBe(403);
      expect(res.body.message).toContain('GET /static-keys/{resourceId}');
    }
  });

  it('each document is audited as a key delivery, one record per KID', async () => {
    const resourceId = `cpix-audit-${crypto.randomUUID()}`;
    const ks = freshKids(2);
    await issue(t.encoderKey, resourceId, ks);
    const res = await request(t.app)
      .get(`/cpix/${resourceId}?kid=${ks.join(',')}&plaintext=true`)
      .set(bearer(t.encoderKey));
    expect(res.status).toBe(200);
    const page = await t.deps.store.audit.query({ resourceId, limit: 100 });
    const delivered = page.records.filter((r) => r.route === 'GET /cpix/{resourceId}');
    expect(delivered.map((r) => r.kid).sort()).toEqual([...ks].sort());
    expect(delivered.every((r) => r.action === 'deliver' && r.status === 200)).toBe(true);
  });
});

describe('GET /cpix/{resourceId} with KEYPLANE_CPIX_DELIVERY_CERTIFICATE', () => {
  it('encrypts to the configured certificate when the caller sends none, and refuses plaintext=true', async () => {
    const c = await makeTestApp({ KEYPLANE_CPIX_DELIVERY_CERTIFICATE: certPem('delivery.pem') });
    try {
      const resourceId = `cpix-conf-${crypto.randomUUID()}`;
      const [kid] = freshKids(1) as [string];
      const issued = await request(c.app)
        .post('/copyProtection')
        .set(bearer(c.encoderKey))
        .set('Content-Type', 'application/xml')
        .send(hlsRequest(resourceId, [kid]));
      expect(issued.status).toBe(200);
      const res = await request(c.app).get(`/cpix/${resourceId}?kid=${kid}`).set(bearer(c.encoderKey));
      expect(res.status).toBe(200);
      expect(res.headers['x-cpix-encrypted']).toBe('true');
      const keys = decryptDocument(parseXml(res.text), PRIVATE_KEY);
      expect(keys.get(kid)).toEqual((await c.deps.keys.get(resourceId, kid)).key);
      const clear = await request(c.app).get(`/cpix/${resourceId}?kid=${kid}&plaintext=true`).set(bearer(c.encoderKey));
      expect(clear.status).toBe(400);
      expect(clear.body.message).toContain('configured certificate');
    } finally {
      await c.close();
    }
  });

  it.each([
    ['rsa1024.pem', /KEYPLANE_CPIX_DELIVERY_CERTIFICATE: .*2048/],
    ['expired.pem', /KEYPLANE_CPIX_DELIVERY_CERTIFICATE: .*(expired|valid)/i],
    ['ec.pem', /KEYPLANE_CPIX_DELIVERY_CERTIFICATE: .*RSA/],
  ])('a configured %s stops the server with a message naming the variable', async (name, message) => {
    await expect(makeTestApp({ KEYPLANE_CPIX_DELIVERY_CERTIFICATE: certPem(name) })).rejects.toThrow(message);
  });
});
