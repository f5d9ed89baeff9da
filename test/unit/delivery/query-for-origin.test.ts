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
  it("keeps an origin's own signed query whatever its values look like; drops a renamed token by its name", () => {
    const edge = 'exp=1796681185~acl=/*~hmac=13c95801aa4659';
    const jws = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2b2QifQ.c2ln';
    expect(queryForOrigin(`/s?auth=${jws}&hdnea=${edge}&q=1`)).toBe(`?auth=${jws}&hdnea=${edge}&q=1`);
    expect(queryForOrigin(`/s?edgetoken=${edge}&q=1`, ['edgetoken'])).toBe('?q=1');
  });
});
