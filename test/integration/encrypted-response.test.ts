import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { NS } from '../../src/cpix/namespaces';
import { parseXml } from '../../src/cpix/xml-parse';
import { textOf } from '../../src/cpix/xml-tree';
import { binaryParser } from '../helpers/binary';
import { findAll } from '../helpers/cpix';
import { FIXTURES, fixture } from '../helpers/fixtures';
import { SHARED } from '../helpers/paths';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const certPem = (name: string) => fs.readFileSync(path.join(FIXTURES, 'certs', name), 'utf8');
const derB64 = (pem: string) => new crypto.X509Certificate(pem).raw.toString('base64');
const privateKey = crypto.createPrivateKey(certPem('delivery-key.pem'));
const DELIVERY_CERT = derB64(certPem('delivery.pem'));

/** Inserts a DeliveryDataList (first child of the root, as the schema orders it) into a request. */
function withCertificate(xml: string, certB64: string): string {
  const list =
    '<cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey><ds:X509Data><ds:X509Certificate>' +
    certB64.replace(/(.{64})/g, '$1\n') +
    '</ds:X509Certificate></ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList>';
  return xml.replace(/(<cpix:CPIX[^>]*?)>/, `$1 xmlns:ds="http://www.w3.org/2000/09/xmldsig#">${list}`);
}

/** Decrypts an encrypted CPIX response with node:crypto only (independent of our decryptDocument). */
function decryptIndependently(xml: string): Map<string, Buffer> {
  const root = parseXml(xml);
  const cipherValues = (el: (typeof root)['children'][number]) =>
    findAll(el as typeof root, NS.enc, 'CipherValue').map((c) => Buffer.from(textOf(c), 'base64'));
  const docKeyEl = findAll(root, NS.cpix, 'DocumentKey')[0];
  const macEl = findAll(root, NS.cpix, 'MACMethod')[0];
  if (!docKeyEl || !macEl) throw new Error('DocumentKey or MACMethod missing');
  const unwrap = (b: Buffer) =>
    crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, b);
  const documentKey = unwrap(cipherValues(docKeyEl)[0] as Buffer);
  const macKey = unwrap(cipherValues(macEl)[0] as Buffer);
  expect(documentKey).toHaveLength(32);
  expect(macKey).toHaveLength(64);
  const keys = new Map<string, Buffer>();
  for (const ck of findAll(root, NS.cpix, 'ContentKey')) {
    const data = cipherValues(ck)[0] as Buffer;
    const mac = Buffer.from(textOf(findAll(ck, NS.pskc, 'ValueMAC')[0] as typeof root), 'base64');
    expect(data).toHaveLength(48);
    expect(crypto.createHmac('sha512', macKey).update(data).digest()).toEqual(mac);
    const decipher = crypto.createDecipheriv('aes-256-cbc', documentKey, data.subarray(0, 16));
    const kid = ck.attrs.find((a) => a.local === 'kid')?.value.toLowerCase() as string;
    keys.set(kid, Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]));
  }
  return keys;
}

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

const post = (body: string, speke?: string) => {
  const r = request(t.app)
    .post('/copyProtection')
    .set('x-api-key', t.encoderKey)
    .set('Content-Type', 'application/xml');
  return (speke ? r.set('X-Speke-Version', speke) : r).send(body);
};
const served = async (resourceId: string, kid: string) =>
  (
    await request(t.app)
      .get(`/keys/${resourceId}/${kid}`)
      .set('x-api-key', t.keyserverKey)
      .buffer(true)
      .parse(binaryParser)
  ).body as Buffer;

describe('encrypted responses (CPIX DeliveryData)', () => {
  it('SPEKE v1: keys RSA-OAEP/AES-256-CBC encrypted with HMAC-SHA512 MACs, no PlainValue, equal to the served keys', async () => {
    const res = await post(withCertificate(fixture('v1/hls-several-keys.xml'), DELIVERY_CERT));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('PlainValue');
    const keys = decryptIndependently(res.text);
    expect(keys.size).toBe(2);
    for (const [kid, key] of keys) expect(await served('several-keys-1', kid)).toEqual(key);
  });

  it.each([
    ['2.0', '2.3', 'v2/valid-2.0/v1-a1--wv-pr.xml'],
    ['2.1', '2.4', 'v2/valid-2.1/shared--wv-pr-fp--rot.xml'],
  ])(
    'SPEKE v%s: encrypted response is CPIX %s schema-valid and decrypts to the served keys',
    async (version, schema, name) => {
      const xml = fixture(name);
      const res = await post(withCertificate(xml, DELIVERY_CERT), version);
      expect(res.status).toBe(200);
      expect(res.text).not.toContain('PlainValue');
      const keys = decryptIndependently(res.text);
      const resourceId = /contentId="([^"]+)"/.exec(xml)?.[1] as string;
      for (const [kid, key] of keys) expect(await served(resourceId, kid)).toEqual(key);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kp-enc-')), 'response.xml');
      fs.writeFileSync(file, res.text);
      execFileSync('xmllint', ['--noout', '--schema', path.join(SHARED, `docs/xsd/cpix-${schema}/cpix.xsd`), file], {
        stdio: 'pipe',
      });
    },
  );

  it('the same request again returns the same keys (fresh document keys)', async () => {
    const body = withCertificate(fixture('v1/hls-single-key.xml'), DELIVERY_CERT);
    const a = await post(body);
    const b = await post(body);
    expect(decryptIndependently(a.text)).toEqual(decryptIndependently(b.text));
    expect(a.text).not.toEqual(b.text);
  });

  it.each([
    ['expired.pem', /expired/i],
    ['ec.pem', /RSA/],
    ['rsa1024.pem', /2048/],
  ])('rejects a %s delivery certificate with 400 and issues nothing', async (name, message) => {
    const res = await post(withCertificate(fixture('v1/hls-single-key.xml'), derB64(certPem(name))));
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expect(await t.deps.store.keys.get(['6c5f5206-7d98-4808-84d8-94f132c1e9fe'])).toEqual(new Map());
  });

  it('refuses a second DeliveryDataList (it would hide the recipient) with 400 and issues nothing', async () => {
    const encrypted = withCertificate(fixture('v1/hls-single-key.xml'), DELIVERY_CERT);
    const body = encrypted.replace('<cpix:DeliveryDataList>', '<cpix:DeliveryDataList/><cpix:DeliveryDataList>');
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('cpix:DeliveryDataList appears more than once');
    expect(res.text).not.toContain('PlainValue');
    expect(await t.deps.store.keys.get(['6c5f5206-7d98-4808-84d8-94f132c1e9fe'])).toEqual(new Map());
  });

  it('enforces KEYPLANE_DELIVERY_CERT_SHA256', async () => {
    await t.close();
    t = await makeTestApp({ KEYPLANE_DELIVERY_CERT_SHA256: 'ab'.repeat(32) });
    const denied = await post(withCertificate(fixture('v1/hls-single-key.xml'), DELIVERY_CERT));
    expect(denied.status).toBe(400);
    expect(denied.body.message).toMatch(/fingerprint|allow/i);
    await t.close();
    const fp = crypto.createHash('sha256').update(Buffer.from(DELIVERY_CERT, 'base64')).digest('hex');
    t = await makeTestApp({ KEYPLANE_DELIVERY_CERT_SHA256: fp.replace(/(..)(?!$)/g, '$1:').toUpperCase() });
    expect((await post(withCertificate(fixture('v1/hls-single-key.xml'), DELIVERY_CERT))).status).toBe(200);
  });
});
