import { credentialedCors } from '../../../src/delivery/cors';

describe('credentialedCors', () => {
  it('allows credentials for an explicit origin only, never for *', () => {
    expect(credentialedCors({ 'Access-Control-Allow-Origin': 'https://p.example', Vary: 'Origin' })).toEqual({
      'Access-Control-Allow-Origin': 'https://p.example',
      Vary: 'Origin',
      'Access-Control-Allow-Credentials': 'true',
    });
    expect(credentialedCors({ 'Access-Control-Allow-Origin': '*' })).toEqual({ 'Access-Control-Allow-Origin': '*' });
    expect(credentialedCors({})).toEqual({});
    expect(credentialedCors(undefined)).toBeUndefined();
  });
});
