/**
 * SPEKE v2.1 period keys and CPIX by GET on the DynamoDB store (moto): a period named by time keeps its key
 * under a new KID, the alias rides in the same issuance transaction, and CPIX by GET reads the keys back.
 */
import crypto from 'node:crypto';
import { consecutivePeriods, timingRequest } from '../../src/cli/conformance/timing-requests';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { responseKeys } from '../helpers/cpix';
import { LoopbackClient } from '../helpers/http-client';
import { dynamoClient, freshTable, startMoto } from '../helpers/moto';

let app: RunningApp;
let client: LoopbackClient;
let drop: () => Promise<void>;
beforeAll(async () => {
  const endpoint = startMoto();
  const fresh = await freshTable(endpoint);
  drop = fresh.drop;
  const store = dynamoDbBackend(dynamoClient(endpoint), fresh.table);
  app = await startBackendApp({ store, cipher: new LocalEnvelopeCipher(crypto.randomBytes(32)) });
  client = new LoopbackClient(app.port);
}, 300_000);
afterAll(async () => {
  client.close();
  await app.close();
  await drop();
});

const post = (body: string) =>
  client.send({
    method: 'POST',
    path: '/copyProtection',
    headers: { 'content-type': 'application/xml', 'x-api-key': app.encoderKey, 'x-speke-version': '2.1' },
    body,
  });
const keysOf = (body: Buffer) =>
  new Map([...responseKeys(body.toString('utf8'))].map(([kid, k]) => [kid, k.key.toString('base64')] as const));

it('a period named by time keeps its key under new KIDs; CPIX by GET returns the same keys', async () => {
  const rid = `ddb-period-${crypto.randomUUID()}`;
  const first = consecutivePeriods([crypto.randomUUID(), crypto.randomUUID()], 'START_END_ONLY');
  const again = consecutivePeriods([crypto.randomUUID(), crypto.randomUUID()], 'INDEX_WITH_START_END');
  const a = await post(timingRequest(rid, first));
  expect(a.status).toBe(200);
  const b = await post(timingRequest(rid, again));
  expect(b.status).toBe(200);
  const [ka, kb] = [keysOf(a.body), keysOf(b.body)];
  expect(first.map((p) => ka.get(p.kid))).toEqual(again.map((p) => kb.get(p.kid)));
  expect(new Set(ka.values()).size).toBe(2);

  const kids = again.map((p) => p.kid).join(',');
  const got = await client.send({
    method: 'GET',
    path: `/cpix/${rid}?kid=${kids}&drm=widevine&plaintext=true`,
    headers: { 'x-api-key': app.encoderKey },
  });
  expect(got.status).toBe(200);
  expect(keysOf(got.body)).toEqual(kb);
});
