import crypto from 'node:crypto';
import request from 'supertest';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const SIGNING = `k1:${crypto.randomBytes(32).toString('base64')}`;
const jtiOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { jti: string }).jti;

/** A revocation reaches the tokens of the revoker's tenant only (a `*` revoker reaches all). */
describe('token revocation across tenants', () => {
  let t: TestApp;
  let kid: string;
  const keys: Record<string, string> = {};
  beforeAll(async () => {
    t = await makeTestApp({ KEYPLANE_TOKEN_SIGNING_KEYS: SIGNING });
    ({ kid } = await t.deps.staticKeys.create({ resourceId: 'studio-b-film' }, 'studio-b'));
    keys.a = (await t.deps.apiKeys.create('a-issuer', ['token-issuer'], 'studio-a')).key;
    keys.b = (await t.deps.apiKeys.create('b-issuer', ['token-issuer'], 'studio-b')).key;
    keys.all = (await t.deps.apiKeys.create('all-issuer', ['token-issuer'], '*')).key;
  });
  afterAll(async () => {
    await t.close();
  });
  const mintForB = async (): Promise<string> => {
    const res = await request(t.app)
      .post('/playback-tokens')
      .set('x-api-key', keys.b as string)
      .send({ resourceId: 'studio-b-film' });
    expect(res.status).toBe(201);
    return res.body.token as string;
  };
  const fetchKey = (token: string) => request(t.app).get(`/playback/${token}/keys/studio-b-film/${kid}`);
  const revoke = (token: string, who: string) =>
    request(t.app)
      .delete(`/playback-tokens/${jtiOf(token)}`)
      .set('x-api-key', keys[who] as string);

  it("another tenant's revocation is accepted but leaves the token working", async () => {
    const token = await mintForB();
    expect((await revoke(token, 'a')).status).toBe(204);
    expect((await fetchKey(token)).status).toBe(200);
  });

  it("the owning tenant's revocation refuses the token at once", async () => {
    const token = await mintForB();
    expect((await revoke(token, 'b')).status).toBe(204);
    const res = await fetchKey(token);
    expect([res.status, res.body.reason]).toEqual([401, 'token_revoked']);
  });

  it('a * revocation reaches every tenant', async () => {
    const token = await mintForB();
    expect((await revoke(token, 'all')).status).toBe(204);
    expect((await fetchKey(token)).status).toBe(401);
  });
});
