/**
 * The SPEKE v2 encryption contract (`ContentKeyUsageRuleList`, "SPEKE API v2 - Encryption contract"):
 * every key has a rule, every rule's filters fit its track type, and per key period the track types
 * form one of the AWS presets: a video preset or UNENCRYPTED, plus an audio preset or UNENCRYPTED, or
 * SHARED (`ALL`) alone. Pure; failures are 422s with AWS's exact contract messages.
 */
import { contractError } from './contract-errors';
import type { CpixRequest, UsageRuleEntry } from '../cpix-model';
import {
  AUDIO_PRESETS,
  VIDEO_PRESETS,
  classifyTrackType,
  matchPreset,
  SHARED_TRACK_TYPE,
  type TrackType,
} from './track-types';
import { filterProblem, hasTrackFilter } from './usage-rule-filters';

/** The parts of a parsed request the contract is about. */
type ContractInput = Pick<CpixRequest, 'contentKeys' | 'periods' | 'usageRules'>;

/** The rules in force for one key period (or for the whole content without rotation). */
interface PeriodRules {
  periodId?: string;
  rules: UsageRuleEntry[];
}

function where(periodId: string | undefined): string {
  return periodId === undefined ? '' : ` in ContentKeyPeriod "${periodId}"`;
}

/** Classifies each rule's track type and checks its filters; unknown types are not supported. */
function classifyRules(rules: readonly UsageRuleEntry[]): Map<UsageRuleEntry, TrackType> {
  const types = new Map<UsageRuleEntry, TrackType>();
  for (const rule of rules) {
    const value = rule.intendedTrackType ?? '';
    const type = classifyTrackType(value);
    if (type === 'unknown') {
      throw contractError(
        'unsupported',
        `intendedTrackType "${value.slice(0, 64)}" of KID ${rule.kid} is not a SPEKE v2 preset track type`,
        rule.kid,
      );
    }
    if (type === 'mixed' || type === 'repeated') {
      const what = type === 'mixed' ? 'mixes audio and video track types' : 'repeats a track type';
      throw contractError(
        'malformed',
        `intendedTrackType "${value.slice(0, 64)}" of KID ${rule.kid} ${what}`,
        rule.kid,
      );
    }
    const problem = filterProblem(rule, type);
    if (problem) throw contractError('malformed', problem, rule.kid);
    types.set(rule, type);
  }
  return types;
}

/** Every ContentKey must be covered by at least one usage rule. */
function requireRulePerKey(input: ContractInput): void {
  const covered = new Set(input.usageRules.map((r) => r.kid));
  const orphan = input.contentKeys.find((k) => !covered.has(k.kid));
  if (orphan) throw contractError('malformed', `ContentKey KID ${orphan.kid} has no ContentKeyUsageRule`, orphan.kid);
}

/** Splits the rules by key period: a rule without KeyPeriodFilter applies to every period. */
function* rulesByPeriod(input: ContractInput): Generator<PeriodRules> {
  if (input.periods.length === 0) {
    yield { rules: [...input.usageRules] };
    return;
  }
  const everywhere = input.usageRules.filter((r) => r.periodIds.length === 0);
  // One pass over the rules, indexed by period id: O(periods + rules), not O(periods × rules).
  const byPeriod = new Map<string, (typeof input.usageRules)[number][]>();
  for (const rule of input.usageRules) {
    for (const id of new Set(rule.periodIds)) {
      const list = byPeriod.get(id);
      if (list) list.push(rule);
      else byPeriod.set(id, [rule]);
    }
  }
  for (const p of input.periods) yield { periodId: p.id, rules: [...everywhere, ...(byPeriod.get(p.id) ?? [])] };
}

/** A value used by two rules of one period (track type or KID), if any. */
function firstRepeat(values: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) return v;
    seen.add(v);
  }
  return undefined;
}

function checkUniqueness({ periodId, rules }: PeriodRules): void {
  const type = firstRepeat(rules.map((r) => r.intendedTrackType ?? ''));
  if (type !== undefined) {
    throw contractError(
      'malformed',
      `intendedTrackType ${type} is used by more than one ContentKeyUsageRule${where(periodId)}`,
    );
  }
  const kid = firstRepeat(rules.map((r) => r.kid));
  if (kid !== undefined) {
    throw contractError('malformed', `KID ${kid} is used by more than one ContentKeyUsageRule${where(periodId)}`, kid);
  }
}

/** SHARED: one `ALL` rule and nothing else in the period. */
function checkShared({ periodId, rules }: PeriodRules, types: Map<UsageRuleEntry, TrackType>): boolean {
  const shared = rules.find((r) => types.get(r)?.kind === 'all');
  if (!shared) return false;
  if (rules.length > 1) {
    throw contractError(
      'malformed',
      `intendedTrackType ${SHARED_TRACK_TYPE} (KID ${shared.kid}) must be the only ContentKeyUsageRule${where(periodId)}`,
      shared.kid,
    );
  }
  return true;
}

/** The video and audio track types of a period must each be a preset or absent (UNENCRYPTED). */
function checkPresets({ periodId, rules }: PeriodRules, types: Map<UsageRuleEntry, TrackType>): void {
  for (const [kind, presets] of [
    ['video', VIDEO_PRESETS],
    ['audio', AUDIO_PRESETS],
  ] as const) {
    const values = new Set(rules.filter((r) => types.get(r)?.kind === kind).map((r) => r.intendedTrackType as string));
    if (values.size > 0 && !matchPreset(presets, values)) {
      const list = [...values].join(', ');
      throw contractError(
        'unsupported',
        `${kind} track types ${list}${where(periodId)} form no SPEKE v2 ${kind} preset`,
      );
    }
  }
}

/**
 * Checks the encryption contract of a parsed SPEKE v2 request; throws the 422 AWS names
 * (`Missing CPIX encryption contract`, `Malformed encryption contract`,
 * `Requested CPIX encryption contract not supported`) with a reason naming the rule or KID.
 */
export function checkEncryptionContract(input: ContractInput): void {
  if (!input.usageRules.some(hasTrackFilter)) {
    throw contractError('missing', 'no ContentKeyUsageRule carries a cpix:VideoFilter or cpix:AudioFilter');
  }
  const types = classifyRules(input.usageRules);
  requireRulePerKey(input);
  for (const period of rulesByPeriod(input)) {
    if (period.rules.length === 0) {
      throw contractError('missing', `no ContentKeyUsageRule applies${where(period.periodId)}`);
    }
    checkUniqueness(period);
    if (!checkShared(period, types)) checkPresets(period, types);
  }
}
