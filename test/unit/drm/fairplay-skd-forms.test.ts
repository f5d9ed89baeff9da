import { base64JsonFairplayUri, createFairPlay, expandFairplayUri } from '../../../src/drm/fairplay';
import { loadConfig } from '../../../src/config';
import { parseHlsTag } from './decoders';
import { makeContext, SETTINGS } from './context';

const ctx = makeContext();

/** The URI attribute of an #EXT-X-KEY line, unquoted. */
function uriOf(line: string | undefined): string | undefined {
  const value = new Map(parseHlsTag(line ?? '').attrs).get('URI');
  return value?.replace(/^"|"$/g, '');
}
const IV_HEX = 'f0e0d0c0b0a090807060504030201000';

describe('FairPlay skd:// forms', () => {
  it('template: {iv}/{ivHex} as 32 hex digits, {ivBase64} and {kidBase64} as base64 (Axinom: skd://<kid>:<iv>)', () => {
    expect(expandFairplayUri('skd://{kid}:{iv}', ctx)).toBe(`skd://98ee5596-cd3e-a20d-163a-e382420c6eff:${IV_HEX}`);
    expect(expandFairplayUri('skd://k?iv={ivHex}&b={ivBase64}&k={kidBase64}', ctx)).toBe(
      `skd://k?iv=${IV_HEX}&b=${Buffer.from(IV_HEX, 'hex').toString('base64')}&k=mO5Vls0+og0WOuOCQgxu/w==`,
    );
  });

  it('base64-json: skd:// + base64 of {"kid","iv"} in the HLS key lines', () => {
    const uri = base64JsonFairplayUri(ctx);
    expect(JSON.parse(Buffer.from(uri.slice('skd://'.length), 'base64').toString('utf8'))).toEqual({
      kid: '98ee5596-cd3e-a20d-163a-e382420c6eff',
      iv: IV_HEX,
    });
    const signal = createFairPlay({ ...SETTINGS, fairplaySkdForm: 'base64-json' }).signal({ ...ctx, scheme: 'cbcs' });
    expect(uriOf(signal.hlsSignaling?.media)).toBe(uri);
  });

  it('the default is unchanged: skd://{resourceId}/{kid}, template form', () => {
    const config = loadConfig({});
    expect(config.fairplayUriTemplate).toBe('skd://{resourceId}/{kid}');
    expect(config.fairplaySkdForm).toBe('template');
    const signal = createFairPlay(config).signal({ ...ctx, scheme: 'cbcs' });
    expect(uriOf(signal.hlsSignaling?.media)).toBe('skd://movie-42/98ee5596-cd3e-a20d-163a-e382420c6eff');
  });

  it.each([
    [
      { KEYPLANE_FAIRPLAY_URI_TEMPLATE: 'skd://{kid}:{ivhex}' },
      /KEYPLANE_FAIRPLAY_URI_TEMPLATE: unknown placeholder \{ivhex\}/,
    ],
    [{ KEYPLANE_FAIRPLAY_SKD_FORM: 'json' }, /KEYPLANE_FAIRPLAY_SKD_FORM: must be one of template, base64-json/],
    [
      { KEYPLANE_FAIRPLAY_SKD_FORM: 'base64-json', KEYPLANE_FAIRPLAY_URI_TEMPLATE: 'skd://{kid}' },
      /KEYPLANE_FAIRPLAY_SKD_FORM: base64-json ignores KEYPLANE_FAIRPLAY_URI_TEMPLATE/,
    ],
  ])('config %j is refused naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
