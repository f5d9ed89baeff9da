/**
 * The SPEKE v2 track types and the AWS encryption presets built from them ("SPEKE v2.0 presets" in the
 * MediaConvert and MediaPackage user guides). A `ContentKeyUsageRule@intendedTrackType` names one key
 * of a preset; an encryption contract is valid when its video and audio track types each form a preset.
 */

/** Which media a usage rule's key protects. */
type TrackKind = 'video' | 'audio' | 'all';

/** An `intendedTrackType` split into its `+`-joined components and classified. */
export interface TrackType {
  value: string;
  kind: TrackKind;
  components: string[];
}

/** `intendedTrackType` of the SHARED preset: one key for every audio and video track. */
export const SHARED_TRACK_TYPE = 'ALL';

/** Video key names across PRESET-VIDEO-1..8 (combined names like `SD+HD1` are built from these). */
const VIDEO_COMPONENTS: ReadonlySet<string> = new Set(['VIDEO', 'SD', 'HD', 'UHD', 'HD1', 'HD2', 'UHD1', 'UHD2']);

/** Audio key names across PRESET-AUDIO-1..3. */
const AUDIO_COMPONENTS: ReadonlySet<string> = new Set([
  'AUDIO',
  'STEREO_AUDIO',
  'MULTICHANNEL_AUDIO',
  'MULTICHANNEL_AUDIO_3_6',
  'MULTICHANNEL_AUDIO_7',
]);

/** Video presets: the key names (intendedTrackType values) each one requests. */
export const VIDEO_PRESETS: Readonly<Record<string, readonly string[]>> = {
  'PRESET-VIDEO-1': ['VIDEO'],
  'PRESET-VIDEO-2': ['SD', 'HD'],
  'PRESET-VIDEO-3': ['SD', 'HD', 'UHD'],
  'PRESET-VIDEO-4': ['SD', 'HD', 'UHD1', 'UHD2'],
  'PRESET-VIDEO-5': ['SD', 'HD1', 'HD2', 'UHD1', 'UHD2'],
  'PRESET-VIDEO-6': ['SD', 'HD1', 'HD2', 'UHD'],
  'PRESET-VIDEO-7': ['SD+HD1', 'HD2', 'UHD'],
  'PRESET-VIDEO-8': ['SD+HD1', 'HD2', 'UHD1', 'UHD2'],
};

/** Audio presets: the key names each one requests. */
export const AUDIO_PRESETS: Readonly<Record<string, readonly string[]>> = {
  'PRESET-AUDIO-1': ['AUDIO'],
  'PRESET-AUDIO-2': ['STEREO_AUDIO', 'MULTICHANNEL_AUDIO'],
  'PRESET-AUDIO-3': ['STEREO_AUDIO', 'MULTICHANNEL_AUDIO_3_6', 'MULTICHANNEL_AUDIO_7'],
};

/** Why a track type could not be classified: a component no preset knows, or video mixed with audio. */
type TrackTypeProblem = 'unknown' | 'mixed' | 'repeated';

function kindOf(component: string): TrackKind | undefined {
  if (VIDEO_COMPONENTS.has(component)) return 'video';
  if (AUDIO_COMPONENTS.has(component)) return 'audio';
  return undefined;
}

/** Classifies an `intendedTrackType`, or names what is wrong with it. */
export function classifyTrackType(value: string): TrackType | TrackTypeProblem {
  if (value === SHARED_TRACK_TYPE) return { value, kind: 'all', components: [value] };
  const components = value.split('+');
  const kinds = new Set(components.map(kindOf));
  if (kinds.has(undefined)) return 'unknown';
  if (kinds.size > 1) return 'mixed';
  if (new Set(components).size !== components.length) return 'repeated';
  return { value, kind: [...kinds][0] as TrackKind, components };
}

function sameSet(a: ReadonlySet<string>, b: readonly string[]): boolean {
  return a.size === b.length && b.every((x) => a.has(x));
}

/** The preset whose key names are exactly `types`, if any. */
export function matchPreset(
  presets: Readonly<Record<string, readonly string[]>>,
  types: ReadonlySet<string>,
): string | undefined {
  return Object.keys(presets).find((name) => sameSet(types, presets[name] as readonly string[]));
}
