/**
 * The filter children of one SPEKE v2 `ContentKeyUsageRule`: which filters its track type implies and
 * whether their bounds are numbers. Only VideoFilter and AudioFilter matter; KeyPeriodFilter is
 * checked by the parser, and SPEKE ignores LabelFilter, BitrateFilter and `VideoFilter@wcg`.
 */
import type { UsageRuleEntry } from '../cpix-model';
import { NS } from '../namespaces';
import type { TrackType } from './track-types';
import { attr, childElements, type ReadonlyXmlElement } from '../xml-tree';

const INTEGER_BOUNDS: Readonly<Record<string, readonly [string, string][]>> = {
  VideoFilter: [
    ['minPixels', 'maxPixels'],
    ['minFps', 'maxFps'],
  ],
  AudioFilter: [['minChannels', 'maxChannels']],
};

const NON_NEGATIVE_INTEGER = /^\+?\d{1,15}$/;
const BOOLEAN = /^(true|false|1|0)$/;

/** Attributes other than namespace declarations. */
function realAttributes(el: ReadonlyXmlElement): number {
  return el.attrs.filter((a) => a.ns !== NS.xmlns).length;
}

/** The VideoFilter and AudioFilter children of a rule. */
function filtersOf(rule: UsageRuleEntry): { video: ReadonlyXmlElement[]; audio: ReadonlyXmlElement[] } {
  return {
    video: childElements(rule.element, NS.cpix, 'VideoFilter'),
    audio: childElements(rule.element, NS.cpix, 'AudioFilter'),
  };
}

/** True when a rule carries at least one VideoFilter or AudioFilter (a contract exists at all). */
export function hasTrackFilter(rule: UsageRuleEntry): boolean {
  const { video, audio } = filtersOf(rule);
  return video.length + audio.length > 0;
}

/** Names the first bad bound on a filter: not a non-negative integer, or min above max. */
function boundProblem(filter: ReadonlyXmlElement): string | undefined {
  for (const [minName, maxName] of INTEGER_BOUNDS[filter.local] ?? []) {
    const [min, max] = [attr(filter, minName), attr(filter, maxName)];
    for (const [name, value] of [
      [minName, min],
      [maxName, max],
    ] as const) {
      if (value !== undefined && !NON_NEGATIVE_INTEGER.test(value)) {
        return `${filter.local}@${name} "${value.slice(0, 32)}" is not a non-negative integer`;
      }
    }
    if (min !== undefined && max !== undefined && Number(min) > Number(max)) {
      return `${filter.local}@${minName} ${min} is greater than @${maxName} ${max}`;
    }
  }
  const hdr = filter.local === 'VideoFilter' ? attr(filter, 'hdr') : undefined;
  if (hdr !== undefined && !BOOLEAN.test(hdr)) return `VideoFilter@hdr "${hdr.slice(0, 32)}" is not a boolean`;
  return undefined;
}

/** What the track type implies about filter counts, as a reason when the rule does not match it. */
function countProblem(type: TrackType, video: ReadonlyXmlElement[], audio: ReadonlyXmlElement[]): string | undefined {
  if (type.kind === 'all') {
    const bare = video.length === 1 && audio.length === 1 && [...video, ...audio].every((f) => realAttributes(f) === 0);
    return bare
      ? undefined
      : 'must have exactly one cpix:VideoFilter and one cpix:AudioFilter, both without attributes';
  }
  if (type.kind === 'video') {
    // One VideoFilter per `+` component, or a single one for the whole combined type (AWS sends that).
    const ok = audio.length === 0 && (video.length === 1 || video.length === type.components.length);
    if (ok) return undefined;
    const count =
      type.components.length > 1 ? `one cpix:VideoFilter or ${type.components.length}` : 'one cpix:VideoFilter';
    return `must have ${count} and no cpix:AudioFilter`;
  }
  const ok = video.length === 0 && audio.length === type.components.length;
  return ok ? undefined : `must have ${type.components.length} cpix:AudioFilter and no cpix:VideoFilter`;
}

/** Why a rule's filters do not fit its track type, or undefined when they do. */
export function filterProblem(rule: UsageRuleEntry, type: TrackType): string | undefined {
  const { video, audio } = filtersOf(rule);
  const counts = countProblem(type, video, audio);
  if (counts) return `ContentKeyUsageRule for KID ${rule.kid} with intendedTrackType ${type.value} ${counts}`;
  for (const filter of [...video, ...audio]) {
    const bound = boundProblem(filter);
    if (bound) return `ContentKeyUsageRule for KID ${rule.kid}: ${bound}`;
  }
  return undefined;
}
