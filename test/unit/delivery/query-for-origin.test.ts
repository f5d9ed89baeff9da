import { queryForOrigin } from '../../../src/delivery/delivery-http';

describe('queryForOrigin', () => {
  it('drops credential parameters however they are spelled, and keeps the rest byte for byte', () => {
    expect(queryForOrigin('/p/a.m3u8?v=2&token=abc&%5F%5Ftoken%5F%5F=x&HDNTS=y&sig=a%2Cb&e=%ZZ')).toBe(
      '?v=2&sig=a%2Cb&e=%ZZ',
    );
  });
  it('drops the names it is given (a session route its own parameters)', () => {
    expect(queryForOrigin('/s?kp_seq=3&q=1', ['kp_seq'])).toBe('?q=1');
    expect(queryForOrigin('/s?kp_seq=3', ['kp_seq'])).toBe('');
  });
  it('has nothing to send when there is no query or only credentials', () => {
    expect(queryForOrigin('/s')).toBe('');
    expect(queryForOrigin('/s?')).toBe('');
    expect(queryForOrigin('/s?__token__=1&&token')).toBe('');
  });
  it('drops a token under a name it does not know, by its shape: an EdgeAuth token or a JWS', () => {
    const edge = 'exp=1796681185~acl=/*~hmac=13c95801aa4659';
    const jws = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2b2QifQ.c2ln';
    expect(queryForOrigin(`/s?edgetoken=${edge}&q=1`)).toBe('?q=1');
    expect(queryForOrigin(`/s?edgetoken=${encodeURIComponent(edge)}&q=1`)).toBe('?q=1');
    expect(queryForOrigin(`/s?st=1~exp=2~acl=%2F*~hmac=ab&q=1`)).toBe('?q=1');
    expect(queryForOrigin(`/s?t=${jws}&q=1`)).toBe('?q=1');
    // An origin's own signature parameters are not ours, and stay.
    expect(queryForOrigin('/s?Signature=abc&hmac=&Policy=eyJ9&q=1')).toBe('?Signature=abc&hmac=&Policy=eyJ9&q=1');
  });
});
