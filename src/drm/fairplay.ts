/**
 * Apple FairPlay Streaming (HLS SAMPLE-AES, i.e. `cbcs`): players hand the `skd://` URI to the
 * FairPlay license server. The URI comes from the operator's template.
 */
import type { DrmContext, DrmSettings, DrmSignalling, DrmSystem } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { uuidToBytes } from './pssh';
import { hlsKeyLines } from './signalling-text';

/** KEYFORMAT Apple defines for FairPlay Streaming. */
const FAIRPLAY_KEY_FORMAT = 'com.apple.streamingkeydelivery';

const PLACEHOLDER = /\{(resourceId|kid|kidHex)\}/g;

/** The value a template placeholder stands for; `{resourceId}` and `{kid}` are URL-encoded. */
function placeholderValue(name: string, ctx: DrmContext): string {
  if (name === 'resourceId') return encodeURIComponent(ctx.resourceId);
  if (name === 'kid') return encodeURIComponent(ctx.kid);
  return uuidToBytes(ctx.kid).toString('hex');
}

/** Fills `{resourceId}`, `{kid}` and `{kidHex}` in the operator's `skd://` template, in one pass. */
export function expandFairplayUri(template: string, ctx: DrmContext): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => placeholderValue(name, ctx));
}

/** FairPlay signalling: v1 fills URIExtXKey/KeyFormat/KeyFormatVersions, v2 the HLS key lines only. */
export function createFairPlay(settings: Pick<DrmSettings, 'fairplayUriTemplate'>): DrmSystem {
  return {
    name: 'FairPlay',
    systemIds: [SYSTEM_IDS.fairplay],
    schemes: ['cbcs'],
    needsIv: true,
    signal(ctx: DrmContext): DrmSignalling {
      const uri = expandFairplayUri(settings.fairplayUriTemplate, ctx);
      if (ctx.spekeVersion === 'v1') return { uriExtXKey: uri, keyFormat: FAIRPLAY_KEY_FORMAT, keyFormatVersions: '1' };
      const attributes = `METHOD=SAMPLE-AES,URI="${uri}",KEYFORMAT="${FAIRPLAY_KEY_FORMAT}",KEYFORMATVERSIONS="1"`;
      return { hlsSignaling: hlsKeyLines(attributes) };
    },
  };
}
