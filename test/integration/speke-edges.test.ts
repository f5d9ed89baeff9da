import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/test-app';

// What a new user's first mistakes on the SPEKE endpoint get back: a GET learns that encoders POST,
// and an empty body is called empty (not a parser's "column undefined").

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('/copyProtection edges', () => {
  it.each(['get', 'put', 'delete'] as const)('%s answers 405 with Allow: POST and says encoders POST', async (m) => {
    const res = await request(t.app)[m]('/copyProtection').set('Authorization', `Bearer ${t.encoderKey}`);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.body.message).toBe(`${m.toUpperCase()} /copyProtection is not supported: encoders POST a CPIX document`);
  });

  it.each(['', '  \n'])('an empty body (%j) is a 400 that says the body is empty', async (body) => {
    const res = await request(t.app)
      .post('/copyProtection')
      .set('Authorization', `Bearer ${t.encoderKey}`)
      .set('Content-Type', 'application/xml')
      .send(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('Request body is empty: send a CPIX document');
    expect(res.text).not.toContain('undefined');
  });
});
