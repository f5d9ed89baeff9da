import request from 'supertest';
import { fixture } from '../helpers/fixtures';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

// What a body the server will not read is told: the header or the shape that was wrong, not a neighbour's.

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
  await t.deps.staticKeys.create({ resourceId: 'body-errors' }, 'default');
});
afterAll(() => t.close());

describe('bodies the server does not read', () => {
  it('names a Content-Encoding it does not decode, and the ones it does', async () => {
    const res = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', t.encoderKey)
      .set('content-type', 'application/xml')
      .set('content-encoding', 'zstd')
      .send(fixture('v1/hls-single-key.xml'));
    expect(res.status).toBe(415);
    expect(res.body.message).toBe('Content-Encoding "zstd" is not supported; send identity, gzip, deflate or br');
  });

  it('tells JSON that is not an object from text that is not JSON, and changes nothing', async () => {
    const put = (body: string) =>
      request(t.app)
        .put('/resources/body-errors/policy')
        .set('x-api-key', ADMIN_KEY)
        .set('content-type', 'application/json')
        .send(body);
    const nul = await put('null');
    expect([nul.status, nul.body.message]).toEqual([400, 'Request body must be a JSON object']);
    const bad = await put('{"allowIps": [');
    expect([bad.status, bad.body.message]).toEqual([400, 'Request body is not valid JSON']);
    expect((await request(t.app).get('/resources/body-errors/policy').set('x-api-key', ADMIN_KEY)).status).toBe(404);
  });
});
