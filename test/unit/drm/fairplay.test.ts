import { createFairPlay, expandFairplayUri } from '../../../src/drm/fairplay';
import { parseHlsTag } from './decoders';
import { makeContext, SETTINGS } from './context';

const fairplay = createFairPlay(SETTINGS);

describe('expandFairplayUri', () => {
  it('substitutes resource ID and KID, URL-encoded', () => {
    const ctx = makeContext({ resourceId: 'show 1/ep?2&x="y"' });
    expect(expandFairplayUri('skd://{resourceId}/{kid}', ctx)).toBe(
      'skd://show%201%2Fep%3F2%26x%3D%22y%22/98ee5596-cd3e-a20d-163a-e382420c6eff',
    );
  });

  it('substitutes {kidHex} as 32 hex digits and repeated placeholders everywhere', () => {
    const ctx = makeContext({ kid: 'ABCDEF01-2345-6789-ABCD-EF0123456789' });
    expect(expandFairplayUri('skd://k/{kidHex}?r={resourceId}&again={kidHex}', ctx)).toBe(
      'skd://k/abcdef0123456789abcdef0123456789?r=movie-42&again=abcdef0123456789abcdef0123456789',
    );
  });

  it('does not re-expand placeholders that appear inside substituted values', () => {
    const ctx = makeContext({ resourceId: '{kid}' });
    expect(expandFairplayUri('skd://{resourceId}', ctx)).toBe('skd://%7Bkid%7D');
  });

  it('leaves unknown braces alone', () => {
    expect(expandFairplayUri('skd://{other}/{kid}', makeContext())).toBe(
      'skd://{other}/98ee5596-cd3e-a20d-163a-e382420c6eff',
    );
  });
});

describe('FairPlay DRM system', () => {
  it('declares cbcs only, so cenc requests are refused upstream', () => {
    expect(fairplay.systemIds).toEqual(['94ce86fb-07ff-4f43-adb8-93d2fa968ca2']);
    expect(fairplay.schemes).toEqual(['cbcs']);
  });

  it('v1: URIExtXKey, KeyFormat and KeyFormatVersions only', () => {
    const signal = fairplay.signal(makeContext({ spekeVersion: 'v1', scheme: undefined }));
    expect(signal).toEqual({
      uriExtXKey: 'skd://movie-42/98ee5596-cd3e-a20d-163a-e382420c6eff',
      keyFormat: 'com.apple.streamingkeydelivery',
      keyFormatVersions: '1',
    });
  });

  it('v2: EXT-X-KEY and EXT-X-SESSION-KEY with identical attributes, no PSSH or ContentProtectionData', () => {
    const signal = fairplay.signal(makeContext({ scheme: 'cbcs', resourceId: 'r2' }));
    expect(Object.keys(signal)).toEqual(['hlsSignaling']);
    const media = parseHlsTag(signal.hlsSignaling?.media ?? '');
    const master = parseHlsTag(signal.hlsSignaling?.master ?? '');
    expect([media.tag, master.tag]).toEqual(['#EXT-X-KEY', '#EXT-X-SESSION-KEY']);
    expect(master.attrs).toEqual(media.attrs);
    expect(media.attrs).toEqual([
      ['METHOD', 'SAMPLE-AES'],
      ['URI', 'skd://r2/98ee5596-cd3e-a20d-163a-e382420c6eff'],
      ['KEYFORMAT', 'com.apple.streamingkeydelivery'],
      ['KEYFORMATVERSIONS', '1'],
    ]);
  });

  it('uses the operator template of its own settings', () => {
    const custom = createFairPlay({ fairplayUriTemplate: 'skd://fps.example.com/{kidHex}' });
    expect(custom.signal(makeContext({ spekeVersion: 'v1' })).uriExtXKey).toBe(
      'skd://fps.example.com/98ee5596cd3ea20d163ae382420c6eff',
    );
  });
});
