import crypto from 'node:crypto';
import { ConfigError, loadConfig } from '../../../src/config';
import {
  base64UrlToKid,
  kidToBase64Url,
  licenseResponse,
  parseLicenseRequest,
} from '../../../src/drm/clearkey-license';
import { BadRequestError } from '../../../src/errors';
import { allowedOrigin, originMatches } from '../../../src/delivery/cors';

describe('EME Clear Key KIDs', () => {
  // The JWK example of W3C EME §9.1.4: kid "LwVHf8JLtPrv2GUXFW2v_A".
  const EME_KID = 'LwVHf8JLtPrv2GUXFW2v_A';
  const UUID = '2f05477f-c24b-b4fa-efd8-6517156daffc';

  it('converts between base64url and UUID both ways', () => {
    expect(base64UrlToKid(EME_KID)).toBe(UUID);
    expect(kidToBase64Url(UUID)).toBe(EME_KID);
    expect(kidToBase64Url(UUID.toUpperCase())).toBe(EME_KID);
  });

  it('round-trips random KIDs', () => {
    for (let i = 0; i < 200; i++) {
      const kid = crypto.randomUUID();
      expect(base64UrlToKid(kidToBase64Url(kid))).toBe(kid);
    }
  });

  it.each([
    ['padding', `${EME_KID}==`],
    ['standard base64 alphabet', 'LwVHf8JLtPrv2GUXFW2v/A'],
    ['too short', EME_KID.slice(0, 21)],
    ['too long', `${EME_KID}A`],
    ['non-zero padding bits', 'LwVHf8JLtPrv2GUXFW2v_B'],
    ['empty', ''],
  ])('refuses %s', (_name, value) => {
    expect(base64UrlToKid(value)).toBeUndefined();
  });
});

describe('parseLicenseRequest / licenseResponse', () => {
  it('parses the W3C request shape', () => {
    const kid = crypto.randomUUID();
    expect(parseLicenseRequest({ kids: [kidToBase64Url(kid)], type: 'temporary' })).toEqual({
      kids: [kid],
      type: 'temporary',
    });
  });

  it('throws BadRequestError for what it refuses', () => {
    expect(() => parseLicenseRequest({ kids: ['x'] })).toThrow(BadRequestError);
    expect(() => parseLicenseRequest(undefined)).toThrow(/JSON object/);
  });

  it('formats a JWK set with base64url (no padding) keys and KIDs', () => {
    const kid = crypto.randomUUID();
    const key = crypto.randomBytes(16);
    const license = licenseResponse([{ kid, key }]);
    expect(license).toEqual({
      keys: [{ kty: 'oct', k: key.toString('base64url'), kid: kidToBase64Url(kid) }],
      type: 'temporary',
    });
    expect(JSON.stringify(license)).not.toMatch(/[=+/]/);
  });
});

describe('CORS origins', () => {
  it('matches exact origins, wildcard subdomains and default ports only', () => {
    expect(originMatches('https://player.example.com', 'https://player.example.com')).toBe(true);
    expect(originMatches('https://player.example.com', 'https://player.example.com:443')).toBe(true);
    expect(originMatches('https://player.example.com', 'https://player.example.com:8443')).toBe(false);
    expect(originMatches('https://player.example.com', 'http://player.example.com')).toBe(false);
    expect(originMatches('https://*.example.com', 'https://a.b.example.com')).toBe(true);
    expect(originMatches('https://*.example.com', 'https://example.com')).toBe(false);
    expect(originMatches('https://*.example.com', 'https://evilexample.com')).toBe(false);
    expect(originMatches('http://127.0.0.1:8080', 'http://127.0.0.1:8080')).toBe(true);
    expect(originMatches('https://player.example.com', 'null')).toBe(false);
  });

  it('answers * for the default and the origin itself for a list', () => {
    expect(allowedOrigin('*', 'https://anything.example')).toBe('*');
    expect(allowedOrigin(['https://a.example'], 'https://a.example')).toBe('https://a.example');
    expect(allowedOrigin(['https://a.example'], 'https://b.example')).toBeUndefined();
  });

  it('reads KEYPLANE_CORS_ORIGINS: * by default, a validated list otherwise', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    expect(loadConfig({ KEYPLANE_CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(loadConfig({ KEYPLANE_CORS_ORIGINS: 'https://A.example/, https://*.cdn.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://*.cdn.example',
    ]);
    expect(() => loadConfig({ KEYPLANE_CORS_ORIGINS: 'player.example.com' })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYPLANE_CORS_ORIGINS: 'player.example.com' })).toThrow(/^KEYPLANE_CORS_ORIGINS: /);
    expect(() => loadConfig({ KEYPLANE_CORS_ORIGINS: ',' })).toThrow(/KEYPLANE_CORS_ORIGINS: must be \*/);
  });
});
