import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { NS } from '../../src/cpix/namespaces';
import { parseXml } from '../../src/cpix/xml-parse';
import { attr, textOf } from '../../src/cpix/xml-tree';
import { findAll, responseKeys } from '../helpers/cpix';
import { FIXTURES, fixture, fixtureNames } from '../helpers/fixtures';
import { makeTestApp, type TestApp } from '../helpers/test-app';
import { XSD, contentKeys, kidsIn, missingFromResponse, signallingProblems, xsdFailures } from './speke-v2-support';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(async () => {
  await t.close();
});

const post = (body: string, version?: string, header = 'X-Speke-Version') => {
  const req = request(t.app)
    .post('/copyProtection')
    .set('Authorization', `Bearer ${t.encoderKey}`)
    .set('Content-Type', 'application/xml');
  return (version === undefined ? req : req.set(header, version)).send(body);
};

/** Valid fixtures: generated ones per SPEKE version, plus the hand-written AWS-shaped ones (version in the name). */
const valid: Array<[string, '2.0' | '2.1']> = [
  ...fixtureNames('v2/valid-2.0').map((n): [string, '2.0'] => [`v2/valid-2.0/${n}`, '2.0']),
  ...fixtureNames('v2/valid-2.1').map((n): [string, '2.1'] => [`v2/valid-2.1/${n}`, '2.1']),
];
const answers = new Map<string, { version: '2.0' | '2.1'; xml: string }>();

describe('POST /copyProtection (SPEKE v2), every valid fixture', () => {
  it('has the fixtures it is meant to cover', () => {
    expect(valid.length).toBe(766);
  });

  it.each(valid)('%s → 200, filled, nothing of the request lost, same keys again', async (name, version) => {
    const body = fixture(name);
    const res = await post(body, version);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/xml/);
    expect(res.headers['x-speke-version']).toBe(version);
    expect(res.headers['x-speke-user-agent']).toMatch(/^Keyplane\/\d+\.\d+\.\d+/);
    expect(res.headers['speke-user-agent']).toBeUndefined();
    expect(res.text).not.toContain(NS.speke);
    answers.set(name, { version, xml: res.text });

    const [req, answer] = [parseXml(body), parseXml(res.text)];
    expect(missingFromResponse(req, answer)).toEqual([]);
    expect(findAll(answer, NS.cpix, 'DRMSystem').flatMap(signallingProblems)).toEqual([]);
    const keys = responseKeys(res.text);
    expect(keys.size).toBe(contentKeys(req).length);
    for (const ck of contentKeys(answer)) {
      const cbc = ['cbcs', 'cbc1'].includes(attr(ck, 'commonEncryptionScheme') as string);
      expect(keys.get((attr(ck, 'kid') as string).toLowerCase())?.key).toHaveLength(16);
      expect(Buffer.from(attr(ck, 'explicitIV') ?? '', 'base64')).toHaveLength(cbc ? 16 : 0);
    }
    expect(responseKeys((await post(body, version)).text)).toEqual(keys);
  });

  it('answers with documents valid against the CPIX 2.3 (v2.0) and CPIX 2.4 (v2.1) schemas', () => {
    expect(answers.size).toBe(valid.length);
    for (const version of ['2.0', '2.1'] as const) {
      const docs = new Map([...answers].filter(([, a]) => a.version === version).map(([n, a]) => [n, a.xml]));
      expect(docs.size).toBeGreaterThan(0);
      expect(Object.fromEntries(xsdFailures(docs, XSD[version === '2.0' ? '2.3' : '2.4']))).toEqual({});
    }
  });

  it('really compares: a lost rule attribute, a lost element or a PSSH mismatch is reported', () => {
    const [name, answer] = [...answers].find(([n]) => n.endsWith('v1-a1--wv-pr.xml')) as [string, { xml: string }];
    const req = parseXml(fixture(name));
    const lostAttribute = answer.xml.replace(' intendedTrackType="AUDIO"', '');
    const lostElement = answer.xml.replace(/<cpix:KeyPeriodFilter[^>]*\/>|<cpix:AudioFilter\/>/, '');
    expect(missingFromResponse(req, parseXml(lostAttribute))).not.toEqual([]);
    expect(missingFromResponse(req, parseXml(lostElement))).not.toEqual([]);
    const [first] = findAll(parseXml(answer.xml), NS.cpix, 'DRMSystem');
    const pssh = first?.children.find((c) => 'local' in c && c.local === 'PSSH');
    if (pssh && 'children' in pssh) pssh.children = [{ text: 'AAAA' }];
    expect(signallingProblems(first as NonNullable<typeof first>)).not.toEqual([]);
  });

  it('really validates: xmllint rejects an answer whose lists are out of schema order', () => {
    const [name, answer] = [...answers].find(([n]) => n.endsWith('v1-a1--wv-pr.xml')) as [string, { xml: string }];
    const list = (/<cpix:ContentKeyList>.*?<\/cpix:ContentKeyList>/s.exec(answer.xml) as RegExpExecArray)[0];
    const broken = answer.xml.replace(list, '').replace('</cpix:CPIX>', `${list}</cpix:CPIX>`);
    expect(xsdFailures(new Map([[name, broken]]), XSD['2.3']).size).toBe(1);
  });
});

describe('POST /copyProtection (SPEKE v2), AWS-shaped requests', () => {
  it('answers the documented VOD example: PlayReady, Widevine and FairPlay for one video and one audio key', async () => {
    const res = await post(fixture('v2/aws/vod-example.xml'), '2.0');
    expect(res.status).toBe(200);
    const answer = parseXml(res.text);
    expect(attr(answer, 'contentId')).toBe('abc123');
    const video = contentKeys(answer).find((k) => attr(k, 'kid') === '98ee5596-cd3e-a20d-163a-e382420c6eff');
    expect(attr(video!, 'explicitIV')).toBe('OFj2IjCsPJFfMAxmQxLGPw==');
    expect(findAll(answer, NS.cpix, 'DRMSystem').flatMap(signallingProblems)).toEqual([]);
    expect(xsdFailures(new Map([['vod', res.text]]), XSD['2.3'])).toEqual(new Map());
  });

  it('drops the empty PSSH placeholder AWS sends for FairPlay, as its verification tests expect', async () => {
    const body = fixture('v2/aws/verification-v8-a2-fairplay.xml');
    const res = await post(body, '2.0');
    expect(res.status).toBe(200);
    const fairplay = findAll(parseXml(res.text), NS.cpix, 'DRMSystem').filter(
      (d) => attr(d, 'systemId') === '94ce86fb-07ff-4f43-adb8-93d2fa968ca2',
    );
    expect(fairplay).toHaveLength(6);
    for (const d of fairplay) {
      expect(findAll(d, NS.cpix, 'PSSH')).toHaveLength(0);
      expect(findAll(d, NS.cpix, 'HLSSignalingData').map((h) => textOf(h).length > 0)).toEqual([true, true]);
    }
    expect(res.text).toContain('xmlns:pksc="urn:ietf:params:xml:ns:keyprov:pskc"');
    expect(res.text).toContain('<pksc:PlainValue>');
    expect(xsdFailures(new Map([['fp', res.text]]), XSD['2.3'])).toEqual(new Map());
  });

  it('keeps playlist="master" when a SPEKE v2.1 encoder sends it, and echoes the period start/end', async () => {
    const res = await post(fixture('v2/aws/v21-widevine-master.xml'), '2.1');
    expect(res.status).toBe(200);
    expect(res.headers['x-speke-version']).toBe('2.1');
    const answer = parseXml(res.text);
    expect(findAll(answer, NS.cpix, 'HLSSignalingData').map((h) => attr(h, 'playlist'))).toEqual([
      'media',
      'master',
      'media',
      'master',
    ]);
    const [period] = findAll(answer, NS.cpix, 'ContentKeyPeriod');
    expect([attr(period!, 'start'), attr(period!, 'end')]).toEqual(['2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z']);
  });

  it('answers AWS\'s "SPEKE v1 style" v2 request: one ALL key with a key period', async () => {
    const res = await post(fixture('v2/aws/v1-style-all.xml'), '2.0');
    expect(res.status).toBe(200);
    expect(xsdFailures(new Map([['v1-style', res.text]]), XSD['2.3'])).toEqual(new Map());
  });
});

interface Rejection {
  status: number;
  message: string;
  speke?: string;
  reason?: string;
  /** `prefix` when the message goes on with parser details (line, column, the value). */
  match?: 'prefix';
}
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'v2/rejected/expected.json'), 'utf8')) as Record<
  string,
  Rejection
>;

describe('POST /copyProtection (SPEKE v2), rejected requests', () => {
  it('has an expectation for every negative fixture and a fixture for every expectation', () => {
    expect(Object.keys(expected).sort()).toEqual(fixtureNames('v2/rejected'));
  });

  it.each(Object.entries(expected))('%s → %j, nothing stored', async (name, want) => {
    const body = fixture(`v2/rejected/${name}`);
    const res = await post(body, want.speke ?? '2.0');
    const message = want.match === 'prefix' ? String(res.body.message).slice(0, want.message.length) : res.body.message;
    expect({ status: res.status, message }).toEqual({ status: want.status, message: want.message });
    if (want.reason) expect(res.body.reason).toContain(want.reason);
    expect(await t.deps.store.keys.get(kidsIn(body))).toEqual(new Map());
  });

  it('rejects an empty body with 400', async () => {
    const res = await post('', '2.0');
    expect(res.status).toBe(400);
  });
});

describe('POST /copyProtection, the X-Speke-Version header', () => {
  const body = () => fixture('v2/valid-2.0/v2-a2--wv-pr.xml');

  it.each([
    ['x-speke-version', '2.0'],
    ['X-SPEKE-VERSION', '2.0'],
    ['X-Speke-Version', ' 2.0 '],
  ])('reads %s: %j as SPEKE v2.0 and echoes the trimmed value', async (header, value) => {
    const res = await post(body(), value, header);
    expect(res.status).toBe(200);
    expect(res.headers['x-speke-version']).toBe('2.0');
  });

  it.each(['2.2', '2', 'v2.0', 'constructor', '__proto__'])(
    'answers %j with 422 Unsupported SPEKE version',
    async (value) => {
      const res = await post(body(), value);
      expect({ status: res.status, message: res.body.message }).toEqual({
        status: 422,
        message: 'Unsupported SPEKE version',
      });
    },
  );

  it('answers a SPEKE v1 document sent with X-Speke-Version 2.0 with 422 Missing CPIX@contentId', async () => {
    const res = await post(fixture('v1/hls-single-key.xml'), '2.0');
    expect({ status: res.status, message: res.body.message }).toEqual({
      status: 422,
      message: 'Missing CPIX@contentId',
    });
  });

  it('leaves SPEKE v1 unchanged: no header or 1.0 → v1 answer with Speke-User-Agent and URIExtXKey', async () => {
    for (const version of [undefined, '1.0']) {
      const res = await post(fixture('v1/hls-key-period.xml'), version);
      expect(res.status).toBe(200);
      expect(res.headers['speke-user-agent']).toMatch(/^Keyplane\//);
      expect(res.headers['x-speke-version']).toBeUndefined();
      expect(res.text).toContain('<cpix:URIExtXKey>');
      expect(res.text).toContain(NS.speke);
    }
  });
});
