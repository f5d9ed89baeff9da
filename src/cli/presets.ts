/**
 * The SPEKE v2.0 encryption presets (AWS MediaConvert/MediaPackage "SPEKE v2.0 presets"): which
 * content keys an encoder asks for and the usage rule (track type + filters) of each.
 */
import { UsageError } from './cli-errors';

/** A `cpix:VideoFilter` or `cpix:AudioFilter` with its bound attributes. */
interface TrackFilter {
  kind: 'VideoFilter' | 'AudioFilter';
  attrs: Record<string, string>;
}

/** One content key of a preset: its `intendedTrackType` and filters. */
export interface TrackRule {
  trackType: string;
  filters: TrackFilter[];
}

/** A video and an audio preset, as `--preset VIDEO:AUDIO` names them. */
export interface PresetPair {
  video: string;
  audio: string;
}

const SD_MAX = 1024 * 576;
const HD1_MAX = 1280 * 720;
const HD_MAX = 1920 * 1080;
const UHD1_MAX = 4096 * 2160;

const video = (attrs: Record<string, number> = {}): TrackFilter => ({
  kind: 'VideoFilter',
  attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, String(v)])),
});
const audio = (attrs: Record<string, number> = {}): TrackFilter => ({
  kind: 'AudioFilter',
  attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, String(v)])),
});

const SD: TrackRule = { trackType: 'SD', filters: [video({ maxPixels: SD_MAX })] };
const HD: TrackRule = { trackType: 'HD', filters: [video({ minPixels: SD_MAX + 1, maxPixels: HD_MAX })] };
const HD1: TrackRule = { trackType: 'HD1', filters: [video({ minPixels: SD_MAX + 1, maxPixels: HD1_MAX })] };
const HD2: TrackRule = { trackType: 'HD2', filters: [video({ minPixels: HD1_MAX + 1, maxPixels: HD_MAX })] };
const UHD: TrackRule = { trackType: 'UHD', filters: [video({ minPixels: HD_MAX + 1 })] };
const UHD1: TrackRule = { trackType: 'UHD1', filters: [video({ minPixels: HD_MAX + 1, maxPixels: UHD1_MAX })] };
const UHD2: TrackRule = { trackType: 'UHD2', filters: [video({ minPixels: UHD1_MAX + 1 })] };
const SD_HD1: TrackRule = { trackType: 'SD+HD1', filters: [...SD.filters, ...HD1.filters] };

/** Video presets by name (PRESET-VIDEO-1..8). */
export const VIDEO_PRESETS: Record<string, TrackRule[]> = {
  'PRESET-VIDEO-1': [{ trackType: 'VIDEO', filters: [video()] }],
  'PRESET-VIDEO-2': [SD, { trackType: 'HD', filters: [video({ minPixels: SD_MAX + 1 })] }],
  'PRESET-VIDEO-3': [SD, HD, UHD],
  'PRESET-VIDEO-4': [SD, HD, UHD1, UHD2],
  'PRESET-VIDEO-5': [SD, HD1, HD2, UHD1, UHD2],
  'PRESET-VIDEO-6': [SD, HD1, HD2, UHD],
  'PRESET-VIDEO-7': [SD_HD1, HD2, UHD],
  'PRESET-VIDEO-8': [SD_HD1, HD2, UHD1, UHD2],
};

/** Audio presets by name (PRESET-AUDIO-1..3). */
export const AUDIO_PRESETS: Record<string, TrackRule[]> = {
  'PRESET-AUDIO-1': [{ trackType: 'AUDIO', filters: [audio()] }],
  'PRESET-AUDIO-2': [
    { trackType: 'STEREO_AUDIO', filters: [audio({ maxChannels: 2 })] },
    { trackType: 'MULTICHANNEL_AUDIO', filters: [audio({ minChannels: 3 })] },
  ],
  'PRESET-AUDIO-3': [
    { trackType: 'STEREO_AUDIO', filters: [audio({ maxChannels: 2 })] },
    { trackType: 'MULTICHANNEL_AUDIO_3_6', filters: [audio({ minChannels: 3, maxChannels: 6 })] },
    { trackType: 'MULTICHANNEL_AUDIO_7', filters: [audio({ minChannels: 7 })] },
  ],
};

const SHARED = 'SHARED';
const UNENCRYPTED = 'UNENCRYPTED';

/** Every valid preset pair: each video preset with each audio preset, SHARED, and the UNENCRYPTED combinations. */
export function allPresetPairs(): PresetPair[] {
  const pairs: PresetPair[] = [];
  for (const v of Object.keys(VIDEO_PRESETS))
    for (const a of Object.keys(AUDIO_PRESETS)) pairs.push({ video: v, audio: a });
  pairs.push({ video: SHARED, audio: SHARED });
  for (const v of Object.keys(VIDEO_PRESETS)) pairs.push({ video: v, audio: UNENCRYPTED });
  for (const a of Object.keys(AUDIO_PRESETS)) pairs.push({ video: UNENCRYPTED, audio: a });
  return pairs;
}

/** `PRESET-VIDEO-1:PRESET-AUDIO-1` form of a pair. */
export function presetLabel(pair: PresetPair): string {
  return `${pair.video}:${pair.audio}`;
}

function normalize(name: string): string {
  return name.trim().toUpperCase().replace(/_/g, '-');
}

/** Checks a pair against the AWS combination rules (SHARED both or neither; UNENCRYPTED not both, not with SHARED). */
function checkCombination(pair: PresetPair): void {
  const { video: v, audio: a } = pair;
  if ((v === SHARED) !== (a === SHARED)) {
    throw new UsageError('--preset: SHARED must be used for both video and audio (SHARED:SHARED)');
  }
  if (v === UNENCRYPTED && a === UNENCRYPTED) {
    throw new UsageError('--preset: video and audio cannot both be UNENCRYPTED (nothing would be encrypted)');
  }
  if (v !== SHARED && v !== UNENCRYPTED && !(v in VIDEO_PRESETS)) {
    throw new UsageError(
      `--preset: unknown video preset "${v}"; use ${Object.keys(VIDEO_PRESETS).join(', ')}, SHARED or UNENCRYPTED`,
    );
  }
  if (a !== SHARED && a !== UNENCRYPTED && !(a in AUDIO_PRESETS)) {
    throw new UsageError(
      `--preset: unknown audio preset "${a}"; use ${Object.keys(AUDIO_PRESETS).join(', ')}, SHARED or UNENCRYPTED`,
    );
  }
}

/** Parses `--preset VIDEO:AUDIO` (MediaConvert's PRESET_VIDEO_1 spelling accepted too). */
export function parsePreset(raw: string): PresetPair {
  const parts = raw.split(':');
  if (parts.length !== 2) {
    throw new UsageError(
      `--preset must be VIDEO:AUDIO, e.g. PRESET-VIDEO-1:PRESET-AUDIO-1 or SHARED:SHARED; got "${raw}"`,
    );
  }
  const pair = { video: normalize(parts[0] as string), audio: normalize(parts[1] as string) };
  checkCombination(pair);
  return pair;
}

/** The usage rules a preset pair asks for, video first. SHARED is one `ALL` rule with empty Video and Audio filters. */
export function presetRules(pair: PresetPair): TrackRule[] {
  checkCombination(pair);
  if (pair.video === SHARED) return [{ trackType: 'ALL', filters: [video(), audio()] }];
  return [...(VIDEO_PRESETS[pair.video] ?? []), ...(AUDIO_PRESETS[pair.audio] ?? [])];
}
