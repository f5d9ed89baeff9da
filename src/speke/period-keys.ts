/**
 * The key of a SPEKE v2.1 period named by time. MediaPackage v2 signals a period's start and end so that key
 * providers can return the same key however (and wherever, in every AWS Region) the period is asked for. The
 * rule: a period's key is identified by the resource, its clock (live `@start` or VOD `@startOffset`), the instant
 * it starts (as a point in time: `10:00:00Z` and `11:00:00+01:00` are one start) and the usage rule's track type.
 * The first KID that asks for such a period fixes its key; a later KID naming the same start and track type gets
 * the same key. Periods with different starts are different keys, even when they overlap across requests (within
 * one request overlaps are refused: `cpix/v2/period-timing.ts`). The identity is stored as an alias KID: a UUID
 * derived from it, kept in the key store beside the resource's other keys. The derivation is public, so an
 * alias another resource already holds is ignored (KeyService): that period's KID keeps its own key.
 */
import { createHash } from 'node:crypto';
import type { CpixRequest, KeyPeriodEntry } from '../cpix/cpix-model';
import { parseDateTime, parseDuration } from '../cpix/v2/period-timing';

/** The clock and start (ms) of a period named by time, or undefined for a period named by index only. */
function startOf(period: KeyPeriodEntry): { clock: 'live' | 'vod'; ms: number } | undefined {
  if (period.start !== undefined) return { clock: 'live', ms: parseDateTime(period.start, 'ContentKeyPeriod@start') };
  if (period.startOffset !== undefined) {
    return { clock: 'vod', ms: parseDuration(period.startOffset, 'ContentKeyPeriod@startOffset') };
  }
  return undefined;
}

/** A UUID (version 8, "custom") from a SHA-256 of the period's identity. */
export function periodAliasKid(resourceId: string, clock: string, startMs: number, trackType: string): string {
  const hash = createHash('sha256').update(`keyplane:period-key\n${resourceId}\n${clock}\n${startMs}\n${trackType}`);
  const b = hash.digest().subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x80;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The alias KID of each content key of a SPEKE v2.1 request whose usage rule names exactly one period named by
 * time; a KID used by rules of different periods or track types gets none (its key is its own, as for index-only
 * periods). Linear in the request's rules.
 */
export function periodKeyAliases(request: CpixRequest): Map<string, string> {
  const aliases = new Map<string, string>();
  if (request.speke !== '2.1' || request.periods.length === 0) return aliases;
  const periods = new Map(request.periods.map((p) => [p.id, p]));
  const ambiguous = new Set<string>();
  for (const rule of request.usageRules) {
    const period = rule.periodIds.length === 1 ? periods.get(rule.periodIds[0] as string) : undefined;
    const start = period && startOf(period);
    const alias = start && periodAliasKid(request.resourceId, start.clock, start.ms, rule.intendedTrackType ?? '');
    const known = aliases.get(rule.kid);
    if (alias === undefined || (known !== undefined && known !== alias)) ambiguous.add(rule.kid);
    else aliases.set(rule.kid, alias);
  }
  for (const kid of ambiguous) aliases.delete(kid);
  return aliases;
}
