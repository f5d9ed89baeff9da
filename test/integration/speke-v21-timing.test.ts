/**
 * SPEKE v2.1 key-period timing against a real app: the fixture set (MediaPackage v2's three
 * ContentKeyPeriodTiming modes, live and VOD) gets XSD-valid CPIX 2.4 answers and the same keys when
 * sent again; the rejected set gets 422s naming the rule; a period's key does not depend on how the
 * requests split the periods; and live rotation stays under the one-process lease.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { consecutivePeriods, timingRequest, type TimedPeriod } from '../../src/cli/conformance/timing-requests';
import { periodAliasKid } from '../../src/speke/period-keys';
import { responseKeys } from '../helpers/cpix';
import { fixture, fixtureNames } from '../helpers/fixtures';
import { makeTestApp, type TestApp } from '../helpers/test-app';
import { XSD, xsdFailures } from './speke-v2-support';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(() => t.close());

const post = (body: string, key = t.encoderKey) =>
  request(t.app)
    .post('/copyProtection')
    .set('Authorization', `Bearer ${key}`)
    .set('Content-Type', 'application/xml')
    .set('X-Speke-Version', '2.1')
    .send(body);

const keysOf = (xml: string) =>
  new Map([...responseKeys(xml)].map(([kid, k]) => [kid, k.key.toString('base64')] as const));

const VALID = fixtureNames('v2/timing-2.1');
const REJECTED = JSON.parse(fixture('v2/timing-2.1/rejected/expected.json')) as Record<string, string>;

describe('SPEKE v2.1 key-period timing fixtures', () => {
  it('cover the three modes, live and VOD', () => {
    expect(VALID).toEqual([
      'index-only.xml',
      'index-with-start-end.xml',
      'start-end-only.xml',
      'vod-index-with-start-end.xml',
      'vod-start-end-only.xml',
    ]);
    expect(Object.keys(REJECTED).sort()).toEqual(fixtureNames('v2/timing-2.1/rejected'));
  });

  it('each gets an XSD-valid CPIX 2.4 answer, and the same keys when re-requested', async () => {
    const answers = new Map<string, string>();
    for (const name of VALID) {
      const body = fixture(`v2/timing-2.1/${name}`);
      const first = await post(body);
      expect([name, first.status]).toEqual([name, 200]);
      expect(first.headers['x-speke-version']).toBe('2.1');
      const again = await post(body);
      expect(again.status).toBe(200);
      const keys = keysOf(first.text);
      expect(keys.size).toBe(3);
      expect(new Set(keys.values()).size).toBe(3);
      expect(keysOf(again.text)).toEqual(keys);
      answers.set(name, first.text);
      answers.set(`${name} (again)`, again.text);
    }
    expect(xsdFailures(answers, XSD['2.4'])).toEqual(new Map());
  });

  it.each(Object.entries(REJECTED))('rejected/%s → 422 "%s", nothing stored', async (name, message) => {
    const body = fixture(`v2/timing-2.1/rejected/${name}`);
    const res = await post(body);
    expect(res.status).toBe(422);
    expect(String(res.body.message)).toContain(message);
    const kids = [...body.matchAll(/ContentKey kid="([^"]+)"/g)].map((m) => m[1] as string);
    expect((await t.deps.keys.findByKids(kids)).size).toBe(0);
  });
});

describe('a period keeps its key however the requests split the periods', () => {
  it('property: any batching and order of the same periods gives each period one key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom('START_END_ONLY' as const, 'INDEX_WITH_START_END' as const, 'INDEX_ONLY' as const),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 6, maxLength: 6 }),
        async (count, mode, vod, batchA, batchB) => {
          const rid = `kp-split-${crypto.randomUUID()}`;
          const periods = consecutivePeriods(
            Array.from({ length: count }, () => crypto.randomUUID()),
            mode,
            { vod },
          );
          const keysBy = async (batchOf: number[]) => {
            const groups = new Map<number, TimedPeriod[]>();
            periods.forEach((p, i) => groups.set(batchOf[i] ?? 0, [...(groups.get(batchOf[i] ?? 0) ?? []), p]));
            const got = new Map<string, string>();
            for (const group of [...groups.values()].reverse()) {
              const res = await post(timingRequest(rid, group));
              expect(res.status).toBe(200);
              for (const [kid, key] of keysOf(res.text)) got.set(kid, key);
            }
            return got;
          };
          const a = await keysBy(batchA);
          const b = await keysBy(batchB);
          expect(a.size).toBe(count);
          expect(b).toEqual(a);
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('a period named by time has one key, whichever KID names it', () => {
  const keyOf = async (rid: string, p: TimedPeriod) => {
    const res = await post(timingRequest(rid, [p]));
    expect(res.status).toBe(200);
    return keysOf(res.text).get(p.kid);
  };

  it('property: the same periods sent again under new KIDs, split differently, get the same key per start', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.constantFrom('START_END_ONLY' as const, 'INDEX_WITH_START_END' as const),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 5, maxLength: 5 }),
        async (count, mode, vod, batchOf) => {
          const rid = `kp-rekid-${crypto.randomUUID()}`;
          const fresh = () => Array.from({ length: count }, () => crypto.randomUUID());
          const first = consecutivePeriods(fresh(), mode, { vod });
          const again = consecutivePeriods(fresh(), mode, { vod, firstIndex: 70 });
          const a = await post(timingRequest(rid, first));
          expect(a.status).toBe(200);
          const byStart = (ps: TimedPeriod[], keys: Map<string, string>) =>
            new Map(ps.map((p) => [p.start ?? p.startOffset, keys.get(p.kid)]));
          const got = new Map<string, string>();
          for (const b of new Set(batchOf.slice(0, count))) {
            const group = again.filter((_p, i) => batchOf[i] === b);
            const res = await post(timingRequest(rid, group));
            expect(res.status).toBe(200);
            for (const [kid, key] of keysOf(res.text)) got.set(kid, key);
          }
          expect(byStart(again, got)).toEqual(byStart(first, keysOf(a.text)));
        },
      ),
      { numRuns: 12 },
    );
  });

  it('one instant in two spellings is one start; another start is another key', async () => {
    const rid = `kp-zone-${crypto.randomUUID()}`;
    const z = { kid: crypto.randomUUID(), start: '2026-12-07T10:00:00Z', end: '2026-12-07T10:05:00Z' };
    const plus1 = { kid: crypto.randomUUID(), start: '2026-12-07T11:00:00+01:00', end: '2026-12-07T11:05:00+01:00' };
    const later = { kid: crypto.randomUUID(), start: '2026-12-07T10:00:01Z', end: '2026-12-07T10:05:00Z' };
    const key = await keyOf(rid, z);
    expect(await keyOf(rid, plus1)).toBe(key);
    expect(await keyOf(rid, later)).not.toBe(key);
  });

  it('VOD offsets: PT30S and PT0H0M30S are one start; a KID issued before keeps its own key', async () => {
    const rid = `kp-vod-${crypto.randomUUID()}`;
    const a = { kid: crypto.randomUUID(), startOffset: 'PT30S', endOffset: 'PT60S' };
    const b = { kid: crypto.randomUUID(), startOffset: 'PT0H0M30S', endOffset: 'PT1M' };
    const key = await keyOf(rid, a);
    expect(await keyOf(rid, b)).toBe(key);
    const early = { kid: crypto.randomUUID(), index: 9 };
    const own = await keyOf(rid, early);
    expect(await keyOf(rid, { ...early, index: undefined, startOffset: 'PT30S', endOffset: 'PT60S' })).toBe(own);
    expect(own).not.toBe(key);
  });
});

describe('key rotation and the lease', () => {
  it('the owner rotates live periods on; a second encoder on the same resource gets 409', async () => {
    const rid = `kp-rotate-${crypto.randomUUID()}`;
    const kids = Array.from({ length: 4 }, () => crypto.randomUUID());
    const periods = consecutivePeriods(kids, 'INDEX_WITH_START_END', { firstIndex: 100 });
    const first = await post(timingRequest(rid, periods.slice(0, 2)));
    expect(first.status).toBe(200);
    const next = await post(timingRequest(rid, periods.slice(1, 3)));
    expect(next.status).toBe(200);
    expect(keysOf(next.text).get(kids[1] as string)).toBe(keysOf(first.text).get(kids[1] as string));
    const other = await post(timingRequest(rid, periods.slice(3)), t.encoder2Key);
    expect(other.status).toBe(409);
  });

  it('v2.0 still needs ContentKeyPeriod@index', async () => {
    const rid = `kp-v20-${crypto.randomUUID()}`;
    const periods = consecutivePeriods([crypto.randomUUID()], 'START_END_ONLY');
    const res = await request(t.app)
      .post('/copyProtection')
      .set('Authorization', `Bearer ${t.encoderKey}`)
      .set('Content-Type', 'application/xml')
      .set('X-Speke-Version', '2.0')
      .send(timingRequest(rid, periods).replace('version="2.4"', 'version="2.3"'));
    expect(res.status).toBe(422);
    expect(res.body.message).toContain('Missing ContentKeyPeriod@index');
  });
});

describe('a period alias another tenant took first', () => {
  it('costs the period its cross-request key, never the request', async () => {
    const other = (await t.deps.apiKeys.create('encoder-b', ['encoder'], 'tenant-b')).key;
    const rid = `kp-squat-${crypto.randomUUID()}`;
    const start = '2026-12-07T10:00:00Z';
    const alias = periodAliasKid(rid, 'live', Date.parse(start), 'ALL');
    // The alias is derived from public values: another tenant binds it to its own resource first.
    const squat = await post(timingRequest(`kp-other-${crypto.randomUUID()}`, [{ kid: alias, index: 0 }]), other);
    expect(squat.status).toBe(200);
    const first = { kid: crypto.randomUUID(), start, end: '2026-12-07T10:05:00Z' };
    const a = await post(timingRequest(rid, [first]));
    expect(a.status).toBe(200);
    const again = { ...first, kid: crypto.randomUUID() };
    const b = await post(timingRequest(rid, [again]));
    expect(b.status).toBe(200);
    // Without its alias the period's KIDs get their own keys; the squatter's key is in neither answer.
    const squatKey = keysOf(squat.text).get(alias);
    expect([keysOf(a.text).get(first.kid), keysOf(b.text).get(again.kid)]).not.toContain(squatKey);
    expect(keysOf(a.text).get(first.kid)).toBeDefined();
  });
});
