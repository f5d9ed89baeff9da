import type { DrmContext, DrmSettings } from '../../../src/drm/drm-system';

/** A DRM context with fixed, recognisable values; override what a test cares about. */
export function makeContext(overrides: Partial<DrmContext> = {}): DrmContext {
  return {
    spekeVersion: 'v2',
    resourceId: 'movie-42',
    kid: '98ee5596-cd3e-a20d-163a-e382420c6eff',
    key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
    iv: Buffer.from('f0e0d0c0b0a090807060504030201000', 'hex'),
    scheme: 'cenc',
    keyUrl: 'https://keys.example.com/key/movie-42/98ee5596-cd3e-a20d-163a-e382420c6eff',
    ...overrides,
  };
}

/** Operator settings used across the DRM tests. */
export const SETTINGS: DrmSettings = {
  fairplayUriTemplate: 'skd://{resourceId}/{kid}',
  widevineProvider: 'keyplane-test',
  playreadyLaUrl: 'https://pr.example.com/rightsmanager.asmx?a=1&b=2',
  clearkeyLicenseUrl: 'https://keys.example.com/clearkey/license?tenant=a&x=<y>',
};
