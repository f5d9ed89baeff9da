import request from 'supertest';
import { NS } from '../../src/cpix/namespaces';
import { parseXml } from '../../src/cpix/xml-parse';
import { binaryParser } from '../helpers/binary';
import { fixture, fixtureNames } from '../helpers/fixtures';
import { drmField, findAll, responseKeys } from '../helpers/cpix';
import { makeTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(async () => {
  await t.close();
});

const post = (body: string, key = t.encoderKey) =>
  request(t.app)
    .post('/copyProtection')
    .set('Authorization', `Bearer ${key}`)
    .set('Content-Type', 'application/xml')
    .send(body);

describe('POST /copyProtection (SPEKE v1)', () => {
  it('fills key, IV and HLS AES-128 signalling for a single key', async () => {
    const res = await post(fixture('v1/hls-single-key.xml'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/xml/);
    expect(res.headers['speke-user-agent']).toMatch(/^Keyplane\/\d+\.\d+\.\d+$/);
    const kid = '6c5f5206-7d98-4808-84d8-94f132c1e9fe';
    const keys = responseKeys(res.text);
    expect(keys.get(kid)?.key).toHaveLength(16);
    expect(keys.get(kid)?.iv).toHaveLength(16);
    expect(drmField(res.text, kid, NS.cpix, 'URIExtXKey')).toBe(
      `http://keys.test/keys/MovieNight20171126093045/${kid}`,
    );
    expect(drmField(res.text, kid, NS.speke, 'KeyFormat')).toBe('identity');
    expect(drmField(res.text, kid, NS.speke, 'KeyFormatVersions')).toBe('1');
    const root = parseXml(res.text);
    for (const placeholder of ['PSSH', 'ContentProtectionData'])
      expect(findAll(root, NS.cpix, placeholder)).toHaveLength(0);
    expect(findAll(root, NS.speke, 'ProtectionHeader')).toHaveLength(0);
  });

  it('returns the same keys for the same request, and serves them on the key URL', async () => {
    const first = responseKeys((await post(fixture('v1/hls-several-keys.xml'))).text);
    const second = responseKeys((await post(fixture('v1/hls-several-keys.xml'))).text);
    expect(second).toEqual(first);
    expect(first.size).toBe(2);
    const [kid, k] = [...first.entries()][0] as [string, { key: Buffer }];
    const res = await request(t.app)
      .get(`/keys/several-keys-1/${kid}`)
      .set('x-api-key', t.keyserverKey)
      .buffer(true)
      .parse(binaryParser);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(k.key);
  });

  it('keeps what the encoder sent (unknown elements, comments aside) and honours its explicitIV', async () => {
    const res = await post(fixture('v1/hls-several-keys.xml'));
    expect(res.text).toContain('<cpix:UpdateHistoryItem index="1" source="encoder" date="2026-11-23T00:00:00Z"/>');
    const iv = await post(fixture('v1/hls-explicit-iv.xml'));
    expect(responseKeys(iv.text).get('98ee5596-cd3e-a20d-163a-e382420c6eff')?.iv.toString('base64')).toBe(
      'OFj2IjCsPJFfMAxmQxLGPw==',
    );
  });

  it('answers documents that use a default namespace with the same prefixes', async () => {
    const res = await post(fixture('v1/hls-default-namespace.xml'));
    expect(res.status).toBe(200);
    expect(res.text).toContain('<URIExtXKey>');
    expect(res.text).toContain('<s:KeyFormat>aWRlbnRpdHk=</s:KeyFormat>');
  });

  it.each(fixtureNames('v1/rejected'))('rejects %s with 400 and stores nothing', async (name) => {
    const res = await post(fixture(`v1/rejected/${name}`));
    expect(res.status).toBe(400);
    expect(res.body.message).toEqual(expect.any(String));
    expect(await t.deps.store.keys.get(['6c5f5206-7d98-4808-84d8-94f132c1e9fe'])).toEqual(new Map());
  });

  it('never echoes file contents for XXE', async () => {
    const res = await post(fixture('v1/rejected/xxe-file.xml'));
    expect(res.text).not.toContain('root:');
  });

  it('answers 413 for a body over the limit', async () => {
    const big = `<cpix:CPIX id="big" xmlns:cpix="urn:dashif:org:cpix"><!--${'x'.repeat(1024 * 1024)}--></cpix:CPIX>`;
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(res.body.message).toMatch(/exceeds the limit of 1048576 bytes/);
  });

  it('answers 415 for a non-XML content type', async () => {
    const res = await request(t.app)
      .post('/copyProtection')
      .set('Authorization', `Bearer ${t.encoderKey}`)
      .set('Content-Type', 'application/json')
      .send('{}');
    expect(res.status).toBe(415);
  });

  it('answers 401 without credentials and 403 for the wrong role', async () => {
    const anon = await request(t.app).post('/copyProtection').set('Content-Type', 'application/xml').send('<x/>');
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/Bearer/);
    const wrong = await post(fixture('v1/hls-single-key.xml'), t.keyserverKey);
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toMatch(/encoder/);
    const bad = await post(fixture('v1/hls-single-key.xml'), 'kp_0123456789abcdef_' + 'A'.repeat(43));
    expect(bad.status).toBe(401);
  });

  it('rejects an unknown X-Speke-Version with 422', async () => {
    const res = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('Content-Type', 'application/xml')
      .set('X-Speke-Version', '9.9')
      .send(fixture('v1/hls-single-key.xml'));
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('Unsupported SPEKE version');
  });

  it('binds a KID to one resource ID: the same KID under another resource is a 409', async () => {
    expect((await post(fixture('v1/hls-single-key.xml'))).status).toBe(200);
    const other = fixture('v1/hls-single-key.xml', { MovieNight20171126093045: 'OtherMovie' });
    const res = await post(other);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(
      /KID 6c5f5206-7d98-4808-84d8-94f132c1e9fe is already bound to a different resource ID/,
    );
  });

  it('never writes key material to the store in the clear', async () => {
    const res = await post(fixture('v1/hls-single-key.xml'));
    const key = responseKeys(res.text).get('6c5f5206-7d98-4808-84d8-94f132c1e9fe')?.key as Buffer;
    const stored = (await t.deps.store.keys.get(['6c5f5206-7d98-4808-84d8-94f132c1e9fe'])).get(
      '6c5f5206-7d98-4808-84d8-94f132c1e9fe',
    );
    expect(stored?.sealed.includes(key)).toBe(false);
    const fs = await import('node:fs');
    const path = await import('node:path');
    for (const f of fs.readdirSync(t.dataDir)) {
      expect(fs.readFileSync(path.join(t.dataDir, f)).includes(key)).toBe(false);
    }
  });
});
