/**
 * The DRM systems the CLI can ask for, by the short names operators type (`--drm widevine,fairplay`).
 * System IDs come from `drm/drm-system.ts` so the CLI and the server never disagree on them.
 */
import { SYSTEM_IDS, type EncryptionScheme } from '../drm/drm-system';
import { UsageError } from './cli-errors';

/** What the CLI knows about one DRM system. */
export interface DrmInfo {
  name: DrmName;
  label: string;
  systemId: string;
  /** Signalled in HLS playlists (URIExtXKey in v1, HLSSignalingData in v2). */
  hls: boolean;
  /** Signalled with a pssh box (PSSH, and ContentProtectionData in v2). */
  pssh: boolean;
  /** The only scheme the system works with, when it has one. */
  requiredScheme?: EncryptionScheme;
}

/** Short names accepted by `--drm`. */
export const DRM_NAMES = ['hls-aes128', 'fairplay', 'widevine', 'playready', 'clearkey', 'common-pssh'] as const;

/** One of DRM_NAMES. */
export type DrmName = (typeof DRM_NAMES)[number];

/** Every DRM system by short name. */
export const DRM_SYSTEMS: Record<DrmName, DrmInfo> = {
  'hls-aes128': { name: 'hls-aes128', label: 'HLS AES-128', systemId: SYSTEM_IDS.hlsAes128, hls: true, pssh: false },
  fairplay: {
    name: 'fairplay',
    label: 'FairPlay',
    systemId: SYSTEM_IDS.fairplay,
    hls: true,
    pssh: false,
    requiredScheme: 'cbcs',
  },
  widevine: { name: 'widevine', label: 'Widevine', systemId: SYSTEM_IDS.widevine, hls: false, pssh: true },
  playready: { name: 'playready', label: 'PlayReady', systemId: SYSTEM_IDS.playready, hls: false, pssh: true },
  clearkey: { name: 'clearkey', label: 'W3C ClearKey', systemId: SYSTEM_IDS.clearkey, hls: false, pssh: true },
  'common-pssh': { name: 'common-pssh', label: 'Common PSSH', systemId: SYSTEM_IDS.commonPssh, hls: false, pssh: true },
};

/** The DRM system for a system ID (either HLS AES-128 ID), if the CLI knows it. */
export function drmBySystemId(systemId: string): DrmInfo | undefined {
  const id = systemId.toLowerCase();
  if (id === SYSTEM_IDS.hlsAes128V2) return DRM_SYSTEMS['hls-aes128'];
  return Object.values(DRM_SYSTEMS).find((d) => d.systemId === id);
}

/** Parses a comma-separated `--drm` value; unknown names are a usage error listing the valid ones. */
export function parseDrmList(raw: string): DrmName[] {
  const names = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`--drm needs at least one of: ${DRM_NAMES.join(', ')}`);
  for (const name of names) {
    if (!(DRM_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--drm: unknown DRM system "${name}"; use one or more of: ${DRM_NAMES.join(', ')}`);
    }
  }
  return [...new Set(names)] as DrmName[];
}

/** The SPEKE v2 scheme for a set of DRM systems: cbcs when an HLS system is among them (FairPlay needs it), else cenc. */
export function defaultScheme(drms: readonly DrmName[]): EncryptionScheme {
  return drms.some((d) => DRM_SYSTEMS[d].hls) ? 'cbcs' : 'cenc';
}
