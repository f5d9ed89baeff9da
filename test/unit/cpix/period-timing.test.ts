import fc from 'fast-check';
import type { KeyPeriodEntry } from '../../../src/cpix/cpix-model';
import { checkPeriodTiming, parseDuration } from '../../../src/cpix/v2/period-timing';
import { UnprocessableError } from '../../../src/errors';

const BASE = Date.UTC(2026, 11, 7, 10);
const iso = (s: number) => new Date(BASE + s * 1000).toISOString();

/** Half-open intervals [start, end) in seconds, as periods on the live or the VOD clock. */
function periods(intervals: Array<[number, number]>, vod: boolean): KeyPeriodEntry[] {
  return intervals.map(([s, e], i) =>
    vod ? { id: `p${i}`, startOffset: `PT${s}S`, endOffset: `PT${e}S` } : { id: `p${i}`, start: iso(s), end: iso(e) },
  );
}

/** The oracle: some two intervals share an instant. Quadratic on purpose (independent of the sort). */
function overlaps(intervals: Array<[number, number]>): boolean {
  return intervals.some(([s1, e1], i) => intervals.some(([s2, e2], j) => i < j && s1 < e2 && s2 < e1));
}

const interval = fc
  .tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 1, max: 120 }))
  .map(([s, d]): [number, number] => [s, s + d]);

describe('checkPeriodTiming', () => {
  it('property: a request is refused (422 naming two periods) exactly when two of its periods overlap', () => {
    fc.assert(
      fc.property(fc.array(interval, { minLength: 1, maxLength: 8 }), fc.boolean(), (intervals, vod) => {
        const run = () => checkPeriodTiming(periods(intervals, vod));
        if (overlaps(intervals)) {
          expect(run).toThrow(UnprocessableError);
          expect(run).toThrow(/ContentKeyPeriods "p\d+" and "p\d+" overlap/);
        } else {
          expect(run()).toBe('START_END_ONLY');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('property: periods that touch end to start never overlap, in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 10 }), (lengths) => {
        let at = 0;
        const intervals = lengths.map((l): [number, number] => [at, (at += l)]);
        expect(checkPeriodTiming(periods(intervals.reverse(), false))).toBe('START_END_ONLY');
      }),
    );
  });

  it('names the mode: INDEX_ONLY, INDEX_WITH_START_END; none without periods', () => {
    expect(checkPeriodTiming([{ id: 'a', index: 1 }])).toBe('INDEX_ONLY');
    expect(checkPeriodTiming([{ id: 'a', index: 1, start: iso(0), end: iso(5) }])).toBe('INDEX_WITH_START_END');
    expect(checkPeriodTiming([])).toBeUndefined();
  });

  it('reads xs:duration in days, hours, minutes and seconds; refuses years, months and empty ones', () => {
    expect(parseDuration('P1DT1H1M1.5S', 'x')).toBe(((24 + 1) * 3600 + 61.5) * 1000);
    expect(parseDuration('PT0S', 'x')).toBe(0);
    for (const bad of ['P1Y', 'P1M', 'P', 'PT', '-PT1S', 'PT1H30', '1S']) {
      expect(() => parseDuration(bad, 'x')).toThrow(UnprocessableError);
    }
  });
});
