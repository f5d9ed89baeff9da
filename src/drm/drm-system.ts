/**
 * One DRM system's signalling for a CPIX DRMSystem element. Each system lives in its own
 * module and is chosen by systemId through the registry in `drm/registry.ts`.
 */

/** CENC protection schemes (ISO/IEC 23001-7). */
export type EncryptionScheme = 'cenc' | 'cbc1' | 'cens' | 'cbcs';

/** The inputs a DRM system needs to signal one key. */
export interface DrmContext {
  /** SPEKE protocol generation of the request: v1 (CPIX 2.0 style) or v2 (CPIX 2.3/2.4). */
  spekeVersion: 'v1' | 'v2';
  resourceId: string;
  /** KID (lower-case UUID) of the DRMSystem element. */
  kid: string;
  /** 16-byte content key. */
  key: Buffer;
  /** 16-byte IV stored with the key. */
  iv: Buffer;
  /** ContentKey@commonEncryptionScheme (v2), if any. */
  scheme?: EncryptionScheme;
  /** Keyplane's (or the configured proxy's) URL for this key's raw bytes. */
  keyUrl: string;
}

/** What a DRM system puts into its DRMSystem element. Values are raw; the CPIX builder base64-encodes. */
export interface DrmSignalling {
  /** v1 `cpix:URIExtXKey`: the key URI for `#EXT-X-KEY`. */
  uriExtXKey?: string;
  /** v1 `speke:KeyFormat`. */
  keyFormat?: string;
  /** v1 `speke:KeyFormatVersions`. */
  keyFormatVersions?: string;
  /** `cpix:PSSH`: a complete ISO BMFF pssh box. */
  pssh?: Buffer;
  /** v1 `speke:ProtectionHeader` (PlayReady Object). */
  protectionHeader?: Buffer;
  /** `cpix:ContentProtectionData`: a DASH XML fragment. */
  contentProtectionData?: string;
  /** v2 `cpix:HLSSignalingData`: the `#EXT-X-KEY` (media) and `#EXT-X-SESSION-KEY` (master) lines. */
  hlsSignaling?: { media: string; master: string };
}

/** A DRM system module. */
export interface DrmSystem {
  /** Human name used in messages, e.g. `Widevine`. */
  readonly name: string;
  /** Lower-case system IDs this module answers for. */
  readonly systemIds: readonly string[];
  /** Schemes the system can be used with; a mismatch is a client error. Undefined = any. */
  readonly schemes?: readonly EncryptionScheme[];
  /**
   * Whether the system's signalling (HLS key lines, licenses) depends on the IV the encoder uses, so a
   * SPEKE v2 answer must tell the encoder that IV (ContentKey@explicitIV) whatever the scheme.
   */
  readonly needsIv: boolean;
  /** Builds the signalling for one key. Pure: no I/O. */
  signal(ctx: DrmContext): DrmSignalling;
}

/** Operator-configurable DRM settings (from `KEYPLANE_*` variables). */
export interface DrmSettings {
  /** FairPlay `skd://` URI template; `{resourceId}`, `{kid}`, `{iv}` (and variants) are substituted. */
  fairplayUriTemplate: string;
  /** FairPlay `skd://` form: the template (default) or `base64-json` (`drm/fairplay.ts`). */
  fairplaySkdForm?: 'template' | 'base64-json';
  /** Widevine provider name written into WidevinePsshData. */
  widevineProvider: string;
  /** PlayReady license acquisition URL (WRMHEADER LA_URL); optional. */
  playreadyLaUrl?: string;
  /** ClearKey license URL (Keyplane's `/clearkey/license`). */
  clearkeyLicenseUrl: string;
}

/** Well-known system IDs. */
export const SYSTEM_IDS = {
  hlsAes128: '81376844-f976-481e-a84e-cc25d39b0b33',
  hlsAes128V2: '3ea8778f-7742-4bf9-b18b-e834b2acbd47',
  fairplay: '94ce86fb-07ff-4f43-adb8-93d2fa968ca2',
  widevine: 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed',
  playready: '9a04f079-9840-4286-ab92-e65be0885f95',
  clearkey: 'e2719d58-a985-b3c9-781a-b030af78d30e',
  commonPssh: '1077efec-c0b2-4d02-ace3-3c1e52e2fb4b',
} as const;
