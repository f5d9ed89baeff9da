/**
 * SPEKE v2.1 key-period timing checks (MediaPackage v2's `ContentKeyPeriodTiming`): a key provider must
 * answer INDEX_ONLY, START_END_ONLY and INDEX_WITH_START_END requests (live and VOD) with a key per period,
 * echo `X-Speke-Version: 2.1`, give the same keys when a request is sent again or when a later request
 * carries some of the same periods, and answer with XSD-valid CPIX 2.4.
 */
import crypto from 'node:crypto';
import type { HttpResult } from '../http-client';
import { expectOk, responseOf } from './assertions';
import { CheckSkippedError, expect, pass, resourceIdFor, type Check, type ConformanceContext } from './check';
import { consecutivePeriods, timingRequest, type TimedPeriod, type TimingMode } from './timing-requests';

const V21 = '2.1';

async function send(ctx: ConformanceContext, resourceId: string, periods: readonly TimedPeriod[]): Promise<HttpResult> {
  return ctx.speke.post(timingRequest(resourceId, periods), { version: V21 });
}

/** Requires a 200 with X-Speke-Version 2.1 and a distinct 16-byte key per period; returns the keys by KID. */
function expectPeriodKeys(result: HttpResult, periods: readonly TimedPeriod[]): Map<string, string> {
  expectOk(result);
  const version = result.headers.get('x-speke-version')?.trim();
  expect(version === V21, `X-Speke-Version is "${version ?? '(none)'}", expected "2.1"`);
  const response = responseOf(result);
  const keys = new Map<string, string>();
  for (const p of periods) {
    const got = response.keys.find((k) => k.kid === p.kid);
    expect(got?.key?.length === 16, `no 16-byte key for the period of KID ${p.kid}`);
    keys.set(p.kid, got.key.toString('hex'));
  }
  expect(new Set(keys.values()).size === keys.size, 'two periods got the same key');
  return keys;
}

function sameKeys(a: Map<string, string>, b: Map<string, string>, what: string): void {
  for (const [kid, key] of a) expect(b.get(kid) === key, `${what}: the key of KID ${kid} changed`);
}

function modeCheck(mode: TimingMode, vod: boolean): Check {
  const label = `${mode}${vod ? '.vod' : ''}`;
  return {
    name: `v21.timing.${label}`,
    category: 'keys',
    speke: '2.0',
    description: `SPEKE v2.1 ${mode} periods (${vod ? 'VOD @startOffset/@endOffset' : 'live'}) get a key each, stable on repeat`,
    async run(ctx) {
      const resourceId = resourceIdFor(ctx, `v21-${label}`);
      const periods = consecutivePeriods([crypto.randomUUID(), crypto.randomUUID()], mode, { vod, firstIndex: 40 });
      const first = expectPeriodKeys(await send(ctx, resourceId, periods), periods);
      sameKeys(first, expectPeriodKeys(await send(ctx, resourceId, periods), periods), 'sent again');
      return pass(`${periods.length} periods, keys stable`);
    },
  };
}

const splitCheck: Check = {
  name: 'v21.timing.split',
  category: 'keys',
  speke: '2.0',
  description: 'a period named by time keeps its key when a later request carries it with the next period',
  async run(ctx) {
    const resourceId = resourceIdFor(ctx, 'v21-split');
    const kids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const periods = consecutivePeriods(kids, 'START_END_ONLY');
    const first = expectPeriodKeys(await send(ctx, resourceId, periods.slice(0, 2)), periods.slice(0, 2));
    const second = expectPeriodKeys(await send(ctx, resourceId, periods.slice(1)), periods.slice(1));
    expect(second.get(kids[1] as string) === first.get(kids[1] as string), 'the shared period got a different key');
    return pass('the shared period kept its key');
  },
};

const schemaCheck: Check = {
  name: 'v21.timing.xsd-valid',
  category: 'schema',
  speke: '2.0',
  description: 'a SPEKE v2.1 answer with timed periods is valid against the DASH-IF CPIX 2.4 XSD',
  async run(ctx) {
    if (ctx.xsd.unavailable) throw new CheckSkippedError(ctx.xsd.unavailable);
    const periods = consecutivePeriods([crypto.randomUUID()], 'INDEX_WITH_START_END', { firstIndex: 3 });
    const result = await send(ctx, resourceIdFor(ctx, 'v21-xsd'), periods);
    expectPeriodKeys(result, periods);
    const verdict = ctx.xsd.validate(result.text, 'cpix-2.4');
    expect(verdict.valid, `xmllint: ${verdict.valid ? '' : verdict.errors}`);
    return pass('INDEX_WITH_START_END, one period');
  },
};

/** The SPEKE v2.1 timing checks (run with the v2 battery). */
export function v21TimingChecks(): Check[] {
  const modes: Array<[TimingMode, boolean]> = [
    ['INDEX_ONLY', false],
    ['START_END_ONLY', false],
    ['INDEX_WITH_START_END', false],
    ['START_END_ONLY', true],
    ['INDEX_WITH_START_END', true],
  ];
  return [...modes.map(([m, vod]) => modeCheck(m, vod)), splitCheck, schemaCheck];
}
