import crypto from 'node:crypto';
import { AccessDeniedError } from '../../../src/auth/delivery-errors';
import { SecureLinkVerifier, secureLinkToken, type SecureLinkConfig } from '../../../src/auth/secure-token';
import { GoneError } from '../../../src/errors';

/** Gcore's Python sample, transcribed independently: base64 with + → -, / → _, padding removed. */
const gcore = (clientId: string, videoId: string, secret: string, expires: number) =>
  crypto
    .createHash('md5')
    .update(`${clientId}_${videoId}_${secret}_${expires}_`)
    .digest('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=/g, '');

const md5: SecureLinkConfig = { clientId: '2675', secret: 'abcdef', algorithm: 'md5' };
const hmac: SecureLinkConfig = { clientId: '2675', secret: 'a-longer-secret-123', algorithm: 'hmac-sha256' };
const EXPIRES = 1861919999;

describe('secureLinkToken', () => {
  it.each(['3dk4NsRt6vWsffEr', '201693', 'with_under_scores', 'x'])('matches the Gcore MD5 formula for %s', (id) => {
    expect(secureLinkToken(md5, id, EXPIRES)).toBe(gcore('2675', id, 'abcdef', EXPIRES));
    expect(secureLinkToken(md5, id, EXPIRES)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('computes HMAC-SHA256 keyed with the secret, without the secret in the message', () => {
    const expected = crypto
      .createHmac('sha256', 'a-longer-secret-123')
      .update(`2675_vod_${EXPIRES}_`)
      .digest('base64url');
    expect(secureLinkToken(hmac, 'vod', EXPIRES)).toBe(expected);
    expect(expected).toHaveLength(43);
  });
});

describe('SecureLinkVerifier', () => {
  const at = (unixSeconds: number) => () => new Date(unixSeconds * 1000);

  it('returns the resource ID after the first "_" following the client id', () => {
    const v = new SecureLinkVerifier(md5, at(EXPIRES - 100));
    expect(v.verify('2675_a_b_c', gcore('2675', 'a_b_c', 'abcdef', EXPIRES), String(EXPIRES))).toBe('a_b_c');
  });

  it('accepts a link up to and including its expiry second, then answers 410', () => {
    const token = gcore('2675', 'vod', 'abcdef', EXPIRES);
    expect(new SecureLinkVerifier(md5, at(EXPIRES)).verify('2675_vod', token, String(EXPIRES))).toBe('vod');
    expect(() => new SecureLinkVerifier(md5, at(EXPIRES + 1)).verify('2675_vod', token, String(EXPIRES))).toThrow(
      GoneError,
    );
  });

  it.each([
    ['another client id', '2676_vod', gcore('2676', 'vod', 'abcdef', EXPIRES), String(EXPIRES)],
    ['a client-id prefix without "_"', '2675vod', gcore('2675', 'vod', 'abcdef', EXPIRES), String(EXPIRES)],
    ['a non-numeric expiry', '2675_vod', gcore('2675', 'vod', 'abcdef', EXPIRES), `${EXPIRES}x`],
    ['an empty token', '2675_vod', '', String(EXPIRES)],
    ['an invalid resource ID', '2675_bad id', gcore('2675', 'bad id', 'abcdef', EXPIRES), String(EXPIRES)],
  ])('answers 403 (not 410) for %s, even when expired', (_name, link, token, expires) => {
    const v = new SecureLinkVerifier(md5, at(EXPIRES + 10_000));
    expect(() => v.verify(link, token, expires)).toThrow(AccessDeniedError);
  });
});
