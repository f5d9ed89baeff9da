/**
 * Apple FairPlay Streaming (HLS SAMPLE-AES, i.e. `cbcs`): players hand the `skd://` URI to the
 * FairPlay license server. The URI comes from the operator's template (`template` form), or is
 * `skd://` + base64 of `{"kid":"<uuid>","iv":"<32 hex>"}` (`base64-json` form), because players and
 * license servers disagree on the form (Axinom, say, reads `skd://<kid>:<iv hex>`, a template).
 */
import type { DrmContext, DrmSettings, DrmSignalling, DrmSystem } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { uuidToBytes } from './pssh';
import { hlsKeyLines } from './signalling-text';

/** KEYFORMAT Apple defines for FairPlay Streaming. */
const FAIRPLAY_KEY_FORMAT = 'com.apple.streamingkeydelivery';

/** The placeholders a template may use: resource ID, KID (UUID, hex, base64) and IV (hex, base64). */
export const FAIRPLAY_PLACEHOLDERS = ['resourceId', 'kid', 'kidHex', 'kidBase64', 'iv', 'ivHex', 'ivBase64'] as const;

/** The forms of `skd://` URI Keyplane writes (`KEYPLANE_FAIRPLAY_SKD_FORM`). */
export const FAIRPLAY_SKD_FORMS = ['template', 'base64-json'] as const;

/** One of FAIRPLAY_SKD_FORMS. */
export type FairplaySkdForm = (typeof FAIRPLAY_SKD_FORMS)[number];

const PLACEHOLDER = new RegExp(`\\{(${FAIRPLAY_PLACEHOLDERS.join('|')})\\}`, 'g');

/** The value a template placeholder stands for; `{resourceId}` and `{kid}` are URL-encoded, `{iv}` is hex. */
function placeholderValue(name: string, ctx: DrmContext): string {
  if (name === 'resourceId') return encodeURIComponent(ctx.resourceId);
  if (name === 'kid') return encodeURIComponent(ctx.kid);
  if (name === 'kidHex') return uuidToBytes(ctx.kid).toString('hex');
  if (name === 'kidBase64') return uuidToBytes(ctx.kid).toString('base64');
  if (name === 'ivBase64') return ctx.iv.toString('base64');
  return ctx.iv.toString('hex');
}

/** Fills the placeholders (FAIRPLAY_PLACEHOLDERS) in the operator's `skd://` template, in one pass. */
export function expandFairplayUri(template: string, ctx: DrmContext): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => placeholderValue(name, ctx));
}

/** `skd://` + base64 of `{"kid":"<uuid>","iv":"<32 hex>"}`: the form license servers that want both read. */
export function base64JsonFairplayUri(ctx: DrmContext): string {
  const json = JSON.stringify({ kid: ctx.kid, iv: ctx.iv.toString('hex') });
  return `skd://${Buffer.from(json, 'utf8').toString('base64')}`;
}

/** FairPlay signalling: v1 fills URIExtXKey/KeyFormat/KeyFormatVersions, v2 the HLS key lines only. */
export function createFairPlay(settings: Pick<DrmSettings, 'fairplayUriTemplate' | 'fairplaySkdForm'>): DrmSystem {
  return {
    name: 'FairPlay',
    systemIds: [SYSTEM_IDS.fairplay],
    schemes: ['cbcs'],
    needsIv: true,
    signal(ctx: DrmContext): DrmSignalling {
      const uri =
        settings.fairplaySkdForm === 'base64-json'
          ? base64JsonFairplayUri(ctx)
          : expandFairplayUri(settings.fairplayUriTemplate, ctx);
      if (ctx.spekeVersion === 'v1') return { uriExtXKey: uri, keyFormat: FAIRPLAY_KEY_FORMAT, keyFormatVersions: '1' };
      const attributes = `METHOD=SAMPLE-AES,URI="${uri}",KEYFORMAT="${FAIRPLAY_KEY_FORMAT}",KEYFORMATVERSIONS="1"`;
      return { hlsSignaling: hlsKeyLines(attributes) };
    },
  };
}
