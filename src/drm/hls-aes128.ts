import type { DrmContext, DrmSignalling, DrmSystem } from './drm-system';
import { SYSTEM_IDS } from './drm-system';

/** Renders an `#EXT-X-KEY`-style attribute list for HLS AES-128 with the key's IV. */
function keyLine(tag: string, ctx: DrmContext): string {
  const iv = `0x${ctx.iv.toString('hex').toUpperCase()}`;
  return `${tag}:METHOD=AES-128,URI="${ctx.keyUrl}",IV=${iv},KEYFORMAT="identity",KEYFORMATVERSIONS="1"`;
}

/** HLS AES-128 (whole-segment AES-128-CBC, RFC 8216): players fetch the raw key from the key URL. */
export const hlsAes128: DrmSystem = {
  name: 'HLS AES-128',
  systemIds: [SYSTEM_IDS.hlsAes128, SYSTEM_IDS.hlsAes128V2],
  needsIv: true,
  signal(ctx: DrmContext): DrmSignalling {
    if (ctx.spekeVersion === 'v1') {
      return { uriExtXKey: ctx.keyUrl, keyFormat: 'identity', keyFormatVersions: '1' };
    }
    return { hlsSignaling: { media: keyLine('#EXT-X-KEY', ctx), master: keyLine('#EXT-X-SESSION-KEY', ctx) } };
  },
};
