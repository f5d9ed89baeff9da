import { SYSTEM_IDS } from '../../../src/drm/drm-system';
import { hlsAes128 } from '../../../src/drm/hls-aes128';
import { createDrmRegistry } from '../../../src/drm/registry';
import { makeContext, SETTINGS } from './context';

const registry = createDrmRegistry(SETTINGS);

describe('createDrmRegistry', () => {
  it.each([
    [SYSTEM_IDS.hlsAes128, 'HLS AES-128'],
    [SYSTEM_IDS.hlsAes128V2, 'HLS AES-128'],
    [SYSTEM_IDS.fairplay, 'FairPlay'],
    [SYSTEM_IDS.widevine, 'Widevine'],
    [SYSTEM_IDS.playready, 'PlayReady'],
    [SYSTEM_IDS.clearkey, 'ClearKey'],
    [SYSTEM_IDS.commonPssh, 'Common PSSH'],
  ])('finds %s (%s) in any letter case', (id, name) => {
    expect(registry.get(id)?.name).toBe(name);
    expect(registry.get(id.toUpperCase())?.name).toBe(name);
  });

  it('answers undefined for an unknown system ID', () => {
    expect(registry.get('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(registry.get('')).toBeUndefined();
  });

  it('lists every module once, the existing HLS AES-128 module included', () => {
    const all = registry.all();
    expect(all).toContain(hlsAes128);
    expect(new Set(all).size).toBe(all.length);
    expect(all.map((s) => s.name).sort()).toEqual(
      ['ClearKey', 'Common PSSH', 'FairPlay', 'HLS AES-128', 'PlayReady', 'Widevine'].sort(),
    );
    const ids = all.flatMap((s) => s.systemIds);
    expect(ids.sort()).toEqual(Object.values(SYSTEM_IDS).sort());
  });

  it('says which systems need the encoder to know the IV: HLS AES-128 (both IDs) and FairPlay', () => {
    const needing = Object.values(SYSTEM_IDS).filter((id) => registry.get(id)?.needsIv === true);
    expect(needing.sort()).toEqual([SYSTEM_IDS.hlsAes128, SYSTEM_IDS.hlsAes128V2, SYSTEM_IDS.fairplay].sort());
  });

  it('wires the settings into the modules', () => {
    const fp = createDrmRegistry({ ...SETTINGS, fairplayUriTemplate: 'skd://x/{kid}' }).get(SYSTEM_IDS.fairplay);
    expect(fp?.signal(makeContext({ spekeVersion: 'v1' })).uriExtXKey).toBe(
      'skd://x/98ee5596-cd3e-a20d-163a-e382420c6eff',
    );
  });
});
