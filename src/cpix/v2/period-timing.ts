/**
 * SPEKE v2.1 key-period timing (MediaPackage v2 `ContentKeyPeriodTiming`). A `cpix:ContentKeyPeriod` is
 * named by `@index` (INDEX_ONLY), by the time it covers (START_END_ONLY: `@start`/`@end` xs:dateTime for
 * live, `@startOffset`/`@endOffset` xs:duration for VOD), or by both (INDEX_WITH_START_END).
 *
 * The rules Keyplane holds a request to, each a 422 naming the period:
 * - a period has an index or a whole interval (both ends, one clock: live or VOD), and its end is after its start;
 * - a dateTime names its time zone (a zone-less time is a different instant in every region);
 * - a duration is in days, hours, minutes and seconds (years and months have no fixed length);
 * - one request uses one timing mode and one clock for all its periods, and no index twice;
 * - periods of one request never overlap (an instant under two periods would have two keys): periods are
 *   half-open `[start, end)`, so one may end where the next starts.
 * Which key a period gets (one per start instant and track type, whichever KID names it) is `speke/period-keys.ts`.
 */
import type { KeyPeriodEntry } from '../cpix-model';
import { UnprocessableError } from '../../errors';

/** How a request names its periods (MediaPackage's `ContentKeyPeriodTiming`). */
export type PeriodTiming = 'INDEX_ONLY' | 'START_END_ONLY' | 'INDEX_WITH_START_END';

/** A period's interval in milliseconds, on the live clock (epoch) or the VOD clock (from the content's start). */
interface Interval {
  id: string;
  clock: 'live' | 'vod';
  start: number;
  end: number;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const DATE_TIME_NO_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/;
const DURATION = /^P(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?$/;

function refuse(message: string): never {
  throw new UnprocessableError(message);
}

/** Milliseconds since the epoch of an xs:dateTime with a time zone. */
export function parseDateTime(value: string, where: string): number {
  if (DATE_TIME_NO_ZONE.test(value)) refuse(`${where} "${value}" has no time zone: add Z or an offset`);
  const ms = DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) refuse(`${where} "${value.slice(0, 40)}" is not an xs:dateTime`);
  return ms;
}

/** Milliseconds of an xs:duration in days, hours, minutes and seconds. */
export function parseDuration(value: string, where: string): number {
  const m = DURATION.exec(value);
  if (!m || value === 'P' || value.endsWith('T')) {
    const hint = /^-?P.*[YM].*$/.test(value) && !/T.*M/.test(value) ? ' (years and months are not allowed)' : '';
    refuse(`${where} "${value.slice(0, 40)}" is not an xs:duration in days, hours, minutes and seconds${hint}`);
  }
  const [d, h, min, s] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0)) as [number, number, number, number];
  return Math.round((((d * 24 + h) * 60 + min) * 60 + s) * 1000);
}

/** The interval a period names, or undefined when it names none; half-named intervals are refused. */
function intervalOf(p: KeyPeriodEntry): Interval | undefined {
  const where = (a: string) => `ContentKeyPeriod@${a} of period "${p.id}"`;
  const live = p.start !== undefined || p.end !== undefined;
  const vod = p.startOffset !== undefined || p.endOffset !== undefined;
  if (live && vod) refuse(`Period "${p.id}" mixes @start/@end (live) with @startOffset/@endOffset (VOD)`);
  if (!live && !vod) return undefined;
  const [a, b] = live ? (['start', 'end'] as const) : (['startOffset', 'endOffset'] as const);
  const from = p[a];
  const to = p[b];
  if (from === undefined) refuse(`Period "${p.id}" has @${b} but no @${a}`);
  if (to === undefined) refuse(`Period "${p.id}" has @${a} but no @${b}`);
  const parse = live ? parseDateTime : parseDuration;
  const interval = {
    id: p.id,
    clock: live ? 'live' : 'vod',
    start: parse(from, where(a)),
    end: parse(to, where(b)),
  } as const;
  if (interval.end <= interval.start)
    refuse(`Period "${p.id}" ends (@${b} ${to}) before or when it starts (@${a} ${from})`);
  return interval;
}

function modeOf(p: KeyPeriodEntry, interval: Interval | undefined): PeriodTiming {
  if (interval === undefined) {
    if (p.index === undefined) refuse(`Missing ContentKeyPeriod@index (or @start/@end) for period "${p.id}"`);
    return 'INDEX_ONLY';
  }
  return p.index === undefined ? 'START_END_ONLY' : 'INDEX_WITH_START_END';
}

/** Refuses two periods sharing an instant: sorted by start, each must start at or after the previous end. */
function checkNoOverlap(intervals: Interval[]): void {
  const sorted = [...intervals].sort((x, y) => x.start - y.start || x.end - y.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as Interval;
    const cur = sorted[i] as Interval;
    if (cur.start < prev.end) {
      refuse(`ContentKeyPeriods "${prev.id}" and "${cur.id}" overlap: one instant would have two keys`);
    }
  }
}

/**
 * Checks the periods of a SPEKE v2.1 request against the rules above and returns the timing mode it
 * uses (undefined without periods). Linear apart from one sort of the intervals.
 */
export function checkPeriodTiming(periods: readonly KeyPeriodEntry[]): PeriodTiming | undefined {
  let mode: PeriodTiming | undefined;
  let clock: Interval['clock'] | undefined;
  const intervals: Interval[] = [];
  const indexes = new Map<number, string>();
  for (const p of periods) {
    const interval = intervalOf(p);
    const own = modeOf(p, interval);
    if (mode !== undefined && own !== mode) {
      refuse(`Period "${p.id}" is named ${own} but earlier periods ${mode}: one ContentKeyPeriodTiming per request`);
    }
    mode = own;
    if (interval) {
      if (clock !== undefined && interval.clock !== clock) {
        refuse(`Period "${p.id}" uses the ${interval.clock} clock but earlier periods the ${clock} clock`);
      }
      clock = interval.clock;
      intervals.push(interval);
    }
    if (p.index !== undefined) {
      const other = indexes.get(p.index);
      if (other !== undefined) refuse(`ContentKeyPeriods "${other}" and "${p.id}" have the same @index ${p.index}`);
      indexes.set(p.index, p.id);
    }
  }
  checkNoOverlap(intervals);
  return mode;
}
