import crypto from 'node:crypto';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { freshKids } from '../helpers/cpix-docs';
import { errorBody, LoopbackClient } from '../helpers/http-client';
import { dynamoClient, freshTable, startMoto } from '../helpers/moto';

/** A request with `n` new KIDs (no DRM systems: key issuance only). */
const manyKeys = (resourceId: string, n: number) =>
  `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList>` +
  freshKids(n)
    .map((k) => `<cpix:ContentKey kid="${k}"/>`)
    .join('') +
  '</cpix:ContentKeyList></cpix:CPIX>';

describe('DynamoDB store: more new KIDs than one transaction holds', () => {
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
      headers: { 'content-type': 'application/xml', 'x-api-key': app.encoderKey },
      body,
    });

  // One transaction: the lease, the new resource's owner and member items, and 97 keys.
  it('issues 97 keys in one request for a new resource and answers 400 (not 500) for 98', async () => {
    expect((await post(manyKeys('limit-97', 97))).status).toBe(200);
    const res = await post(manyKeys('limit-98', 98));
    expect(res.status).toBe(400);
    expect(errorBody(res)?.message).toMatch(/at most 97 keys/);
  });
});
