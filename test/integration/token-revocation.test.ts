import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import type { EnvelopeCipher } from '../../src/keys/envelope-cipher';
import type { Backend } from '../../src/store/backend';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { openSqliteBackend } from '../../src/store/sqlite';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { createKmsKey, dynamoClient, freshTable, kmsClient, startMoto } from '../helpers/moto';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const SIGNING = `k1:${crypto.randomBytes(32).toString('base64')}`;
const RESOURCE = 'revocation-vod-1';
const admin = { 'x-api-key': ADMIN_KEY };
const jtiOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { jti: string }).jti;

describe('DELETE /playback-tokens/{jti} on one app', () => {
  let t: TestApp;
  let kid: string;
  let issuerKey: string;
  beforeAll(async () => {
    t = await makeTestApp({ KEYPLANE_TOKEN_SIGNING_KEYS: SIGNING, KEYPLANE_TOKEN_MAX_TTL_SECONDS: '3600' });
    ({ kid } = await t.deps.staticKeys.create({ resourceId: RESOURCE }, 'default'));
    issuerKey = (await t.deps.apiKeys.create('issuer', ['token-issuer'])).key;
  });
  afterAll(async () => {
    await t.close();
  });
  const mint = async (): Promise<string> =>
    (await request(t.app).post('/playback-tokens').set(admin).send({ resourceId: RESOURCE })).body.token as string;

  /** Every way a player presents a token to a route that verifies it. */
  const uses = (token: string) => ({
    path: () => request(t.app).get(`/playback/${token}/keys/${RESOURCE}/${kid}`),
    query: () => request(t.app).get(`/keys/${RESOURCE}/${kid}?token=${token}`),
    bearer: () => request(t.app).get(`/keys/${RESOURCE}/${kid}`).set('Authorization', `Bearer ${token}`),
    clearKey: () =>
      request(t.app)
        .post('/clearkey/license')
        .set('Authorization', `Bearer ${token}`)
        .send({ kids: [Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url')], type: 'temporary' }),
  });

  it('revokes a token (204, idempotent) so that every transport refuses it with 401 token_revoked', async () => {
    const token = await mint();
    for (const [name, use] of Object.entries(uses(token))) expect([name, (await use()).status]).toEqual([name, 200]);
    const res = await request(t.app)
      .delete(`/playback-tokens/${jtiOf(token)}`)
      .set('x-api-key', issuerKey);
    expect(res.status).toBe(204);
    expectMatchesSpec('delete', '/playback-tokens/{jti}', res);
    for (const [name, use] of Object.entries(uses(token))) {
      const refused = await use();
      expect([name, refused.status, refused.body.reason]).toEqual([name, 401, 'token_revoked']);
    }
    const again = await request(t.app)
      .delete(`/playback-tokens/${jtiOf(token)}`)
      .set(admin);
    expect(again.status).toBe(204);
  });

  it('leaves other tokens of the same resource working', async () => {
    const revoked = await mint();
    const other = await mint();
    await request(t.app)
      .delete(`/playback-tokens/${jtiOf(revoked)}`)
      .set(admin)
      .expect(204);
    expect((await uses(other).path()).status).toBe(200);
  });

  it('answers 400 for a malformed jti, 403 without the role, 401 without a credential', async () => {
    const bad = await request(t.app).delete('/playback-tokens/not-a-uuid').set(admin);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/jti/);
    expectMatchesSpec('delete', '/playback-tokens/{jti}', bad);
    const encoder = await request(t.app)
      .delete(`/playback-tokens/${crypto.randomUUID()}`)
      .set('x-api-key', t.encoderKey);
    expect(encoder.status).toBe(403);
    expect((await request(t.app).delete(`/playback-tokens/${crypto.randomUUID()}`)).status).toBe(401);
  });

  it('audits revocations and their refusals with the revoker', async () => {
    const jti = crypto.randomUUID();
    await request(t.app).delete(`/playback-tokens/${jti}`).set('x-api-key', issuerKey).expect(204);
    await request(t.app).delete('/playback-tokens/nope').set('x-api-key', issuerKey).expect(400);
    await request(t.app).delete(`/playback-tokens/${jti}`).set('x-api-key', t.encoderKey).expect(403);
    const page = await t.deps.store.audit.query({ limit: 1000 });
    const revokes = page.records.filter((r) => r.action === 'revoke');
    const ok = revokes.find((r) => r.resourceId === `token:${jti}`);
    expect(ok).toMatchObject({ route: 'DELETE /playback-tokens/{jti}', status: 204, outcome: 'allowed' });
    expect(ok?.principal).toMatch(/^apikey:/);
    expect(revokes.find((r) => r.resourceId === 'token:nope')).toMatchObject({ status: 400, reason: 'bad_request' });
    expect(revokes.find((r) => r.resourceId === `token:${jti}` && r.status === 403)).toMatchObject({
      reason: 'forbidden',
      principal: expect.stringMatching(/^apikey:/),
    });
  });
});

/** Two app instances on one store: revoke on A, refused on B at once. */
async function twoInstances(open: () => Promise<{ store: Backend; cipher: EnvelopeCipher }>): Promise<RunningApp[]> {
  const env = { KEYPLANE_TOKEN_SIGNING_KEYS: SIGNING, KEYPLANE_TOKEN_MAX_TTL_SECONDS: '3600' };
  const a = await startBackendApp(await open(), undefined, env);
  const b = await startBackendApp(await open(), a, env);
  return [a, b];
}

async function revokeOnOneRefusedOnOther([a, b]: RunningApp[]): Promise<void> {
  const resourceId = `vod-${crypto.randomUUID()}`;
  const { kid } = await (a as RunningApp).deps.staticKeys.create({ resourceId }, 'default');
  const url = (app: RunningApp) => `http://127.0.0.1:${app.port}`;
  const minted = await request(url(a as RunningApp))
    .post('/playback-tokens')
    .set(admin)
    .send({ resourceId });
  const token = minted.body.token as string;
  const onB = () => request(url(b as RunningApp)).get(`/playback/${token}/keys/${resourceId}/${kid}`);
  expect((await onB()).status).toBe(200);
  await request(url(a as RunningApp))
    .delete(`/playback-tokens/${jtiOf(token)}`)
    .set(admin)
    .expect(204);
  const refused = await onB();
  expect([refused.status, refused.body.reason]).toEqual([401, 'token_revoked']);
  const bearer = await request(url(b as RunningApp))
    .get(`/keys/${resourceId}/${kid}`)
    .set('Authorization', `Bearer ${token}`);
  expect([bearer.status, bearer.body.reason]).toEqual([401, 'token_revoked']);
}

describe('revocation across instances', () => {
  it('two apps sharing one SQLite file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-revoke-'));
    const master = crypto.randomBytes(32);
    const apps = await twoInstances(async () => ({
      store: openSqliteBackend(path.join(dir, 'keyplane.db')),
      cipher: new LocalEnvelopeCipher(master),
    }));
    try {
      await revokeOnOneRefusedOnOther(apps);
    } finally {
      for (const app of apps) await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two apps sharing one DynamoDB table', async () => {
    const endpoint = startMoto();
    const fresh = await freshTable(endpoint);
    const keyId = await createKmsKey(endpoint);
    const context = { app: 'keyplane', deployment: `revoke-${crypto.randomUUID()}` };
    const apps = await twoInstances(async () => ({
      store: dynamoDbBackend(dynamoClient(endpoint), fresh.table),
      cipher: new KmsEnvelopeCipher(kmsClient(endpoint), { keyId, encryptionContext: context }),
    }));
    try {
      await revokeOnOneRefusedOnOther(apps);
    } finally {
      for (const app of apps) await app.close();
      await fresh.drop();
    }
  }, 120_000);
});
