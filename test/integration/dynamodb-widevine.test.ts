import crypto from 'node:crypto';
import { buildCpixRequest } from '../../src/cli/cpix-request-builder';
import { WidevineClient, type AesSignerKey } from '../../src/cli/widevine-client';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import { dynamoDbBackend } from '../../src/store/dynamodb';
import { startBackendApp, type RunningApp } from '../helpers/backend-app';
import { dynamoClient, freshTable, startMoto } from '../helpers/moto';
import { ADMIN_KEY } from '../helpers/test-app';

// The Widevine API on DynamoDB (moto): the largest request (60 keys) commits in one transaction with the
// resource's claim and the lease-free placeholder, repeats answer the same keys, and a SPEKE encoder's lease on the
// same resource is left as it was.

const SIGNER: AesSignerKey = { name: 'dyn', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const ALL_TRACKS = ['SD', 'HD', 'UHD1', 'UHD2', 'AUDIO'].map((type) => ({ type }));

let app: RunningApp;
let api: WidevineClient;
let drop: () => Promise<void>;
const base = () => `http://127.0.0.1:${app.port}`;

beforeAll(async () => {
  const endpoint = startMoto();
  const fresh = await freshTable(endpoint);
  drop = fresh.drop;
  const store = dynamoDbBackend(dynamoClient(endpoint), fresh.table);
  app = await startBackendApp({ store, cipher: new LocalEnvelopeCipher(crypto.randomBytes(32)) }, undefined, {
    KEYPLANE_WIDEVINE_SIGNERS: `${SIGNER.name}:${SIGNER.key.toString('hex')}:${SIGNER.iv.toString('hex')}`,
    KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
  });
  api = new WidevineClient(`${base()}/widevine/cenc`, SIGNER);
}, 300_000);

afterAll(async () => {
  await app.close();
  await drop();
});

const ask = (resourceId: string, extra: Record<string, unknown> = {}) =>
  api.post({ content_id: Buffer.from(resourceId).toString('base64'), tracks: ALL_TRACKS, ...extra });

const lease = async (resourceId: string) => {
  const res = await fetch(`${base()}/leases/${resourceId}`, { headers: { 'x-api-key': ADMIN_KEY } });
  return { status: res.status, body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined };
};

it('60 keys (5 tracks × 12 periods) commit at once; asking again answers the same keys; no lease is taken', async () => {
  const first = await ask('dyn-live', { first_crypto_period_index: 100, crypto_period_count: 12 });
  expect(first.status).toBe('OK');
  expect(first.tracks).toHaveLength(60);
  const again = await ask('dyn-live', { first_crypto_period_index: 100, crypto_period_count: 12 });
  expect(again.tracks.map((t) => t.key.toString('hex'))).toEqual(first.tracks.map((t) => t.key.toString('hex')));
  expect((await lease('dyn-live')).status).toBe(404);
});

it('a SPEKE encoder’s lease on the resource is left as it was by Widevine requests', async () => {
  const built = buildCpixRequest({ speke: '1.0', resourceId: 'dyn-shared', drms: ['widevine'] });
  const speke = await fetch(`${base()}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': app.encoderKey, 'content-type': 'application/xml' },
    body: built.xml,
  });
  expect(speke.status).toBe(200);
  const before = await lease('dyn-shared');
  expect(before.status).toBe(200);
  expect((await ask('dyn-shared')).status).toBe('OK');
  expect(await lease('dyn-shared')).toEqual(before);
});
