import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ServiceUnavailableError } from '../../src/errors';
import { KeyUnsealError } from '../../src/keys/envelope-cipher-errors';
import type { KmsCipherOptions } from '../../src/keys/kms-cipher';
import { KeyService } from '../../src/keys/key-service';
import { KmsEnvelopeCipher, kmsClientTimeouts } from '../../src/keys/kms-cipher';
import { openSqliteBackend } from '../../src/store/sqlite';
import { SHARED } from '../helpers/paths';

const MOTO = path.join(SHARED, 'tools/moto-server');
const CONTEXT = { app: 'keyplane', deployment: `test-${crypto.randomUUID()}` };
let endpoint = '';
let keyId = '';
const clients: KMSClient[] = [];

function client(at = endpoint, overrides: Partial<ConstructorParameters<typeof KMSClient>[0]> = {}): KMSClient {
  const c = new KMSClient({ region: 'us-east-1', endpoint: at, ...kmsClientTimeouts(), ...overrides });
  clients.push(c);
  return c;
}

function cipher(options: Partial<KmsCipherOptions> = {}, kms = client()): KmsEnvelopeCipher {
  return new KmsEnvelopeCipher(kms, { keyId, encryptionContext: CONTEXT, ...options });
}

const material = (): Buffer => crypto.randomBytes(32);

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_REGION = 'us-east-1';
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  const created = await client().send(new CreateKeyCommand({ Description: 'keyplane kms-cipher test' }));
  keyId = created.KeyMetadata?.KeyId ?? '';
  expect(keyId).not.toBe('');
}, 300_000);

afterAll(() => {
  for (const c of clients) c.destroy();
});

describe('KmsEnvelopeCipher against moto KMS', () => {
  it('round-trips key material and produces the self-describing format', async () => {
    const c = cipher();
    const plain = material();
    const sealed = await c.seal(plain, { resourceId: 'r1', kid: 'k1' });
    expect(sealed[0]).toBe(4); // format 4: names the KMS key ARN
    const arnLength = sealed.readUInt8(1);
    expect(sealed.subarray(2, 2 + arnLength).toString()).toMatch(new RegExp(`^arn:aws:kms:.*:key/${keyId}$`));
    expect(c.sealedBy(sealed)).toBe(sealed.subarray(2, 2 + arnLength).toString());
    const edkLength = sealed.readUInt16BE(2 + arnLength);
    expect(sealed.length).toBe(4 + arnLength + edkLength + 12 + 16 + plain.length);
    expect(sealed.includes(plain)).toBe(false);
    await expect(c.open(sealed, { resourceId: 'r1', kid: 'k1' })).resolves.toEqual(plain);
    await expect(cipher().open(sealed, { resourceId: 'r1', kid: 'k1' })).resolves.toEqual(plain);
  });

  it('binds a sealed value to its (resource ID, KID)', async () => {
    const c = cipher();
    const sealed = await c.seal(material(), { resourceId: 'r1', kid: 'k1' });
    for (const other of [
      { resourceId: 'r1', kid: 'k2' },
      { resourceId: 'r2', kid: 'k1' },
    ]) {
      await expect(c.open(sealed, other)).rejects.toBeInstanceOf(KeyUnsealError);
      await expect(cipher().open(sealed, other)).rejects.toBeInstanceOf(KeyUnsealError);
    }
  });

  it('cannot open values sealed under another encryption context (deployment)', async () => {
    const plain = material();
    const sealed = await cipher().seal(plain, { resourceId: 'r1', kid: 'k1' });
    const elsewhere = cipher({ encryptionContext: { app: 'keyplane', deployment: 'other' } });
    const err = await elsewhere.open(sealed, { resourceId: 'r1', kid: 'k1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyUnsealError);
    expect((err as Error).message).toMatch(/InvalidCiphertextException/);
    expect((err as Error).message).not.toContain(plain.toString('hex'));
    expect(elsewhere.stats().decryptCalls).toBe(1);
  });

  it('rejects tampered and foreign values as KeyUnsealError', async () => {
    const c = cipher();
    const ctx = { resourceId: 'r1', kid: 'k1' };
    const sealed = await c.seal(material(), ctx);
    const flippedBody = Buffer.from(sealed);
    flippedBody[flippedBody.length - 1] = (flippedBody[flippedBody.length - 1] ?? 0) ^ 1;
    const flippedKey = Buffer.from(sealed);
    const edkAt = 4 + sealed.readUInt8(1);
    const edkEnd = edkAt + sealed.readUInt16BE(edkAt - 2) - 1; // last byte of the encrypted data key (its GCM tag in moto and KMS)
    flippedKey[edkEnd] = (flippedKey[edkEnd] ?? 0) ^ 1;
    for (const bad of [flippedBody, flippedKey, sealed.subarray(0, 20), Buffer.alloc(0), Buffer.from([2, 0, 1])]) {
      await expect(cipher().open(bad, ctx)).rejects.toBeInstanceOf(KeyUnsealError);
    }
  });

  it('caches data keys: 1000 seals and 1000 opens cost at most 10 KMS calls each', async () => {
    const sealer = cipher();
    const values = Array.from({ length: 1000 }, (_, i) => ({
      ctx: { resourceId: `r${i % 7}`, kid: `k${i}` },
      plain: material(),
    }));
    const sealed = await Promise.all(values.map((v) => sealer.seal(v.plain, v.ctx)));
    const sealStats = sealer.stats();
    expect(sealStats.generateDataKeyCalls).toBeGreaterThanOrEqual(1);
    expect(sealStats.generateDataKeyCalls).toBeLessThanOrEqual(10);
    expect(sealStats.decryptCalls).toBe(0);

    const opener = cipher();
    const opened = await Promise.all(values.map((v, i) => opener.open(sealed[i] as Buffer, v.ctx)));
    expect(opened).toEqual(values.map((v) => v.plain));
    const openStats = opener.stats();
    expect(openStats.decryptCalls).toBeGreaterThanOrEqual(1);
    expect(openStats.decryptCalls).toBeLessThanOrEqual(10);
    expect(openStats.generateDataKeyCalls).toBe(0);
    process.stdout.write(
      `KMS calls per 100 keys: seal ${(sealStats.generateDataKeyCalls / 10).toFixed(2)} GenerateDataKey, ` +
        `open ${(openStats.decryptCalls / 10).toFixed(2)} Decrypt\n`,
    );
  });

  it('rotates the data key after maxDataKeyUses and after maxDataKeyAgeMs', async () => {
    let now = 1_000_000;
    const byUses = cipher({ maxDataKeyUses: 10 });
    for (let i = 0; i < 25; i++) await byUses.seal(material(), { resourceId: 'r', kid: `k${i}` });
    expect(byUses.stats().generateDataKeyCalls).toBe(3);

    const byAge = new KmsEnvelopeCipher(
      client(),
      { keyId, encryptionContext: CONTEXT, maxDataKeyAgeMs: 1000 },
      () => now,
    );
    const first = await byAge.seal(material(), { resourceId: 'r', kid: 'a' });
    now += 999;
    const second = await byAge.seal(material(), { resourceId: 'r', kid: 'b' });
    now += 1;
    const third = await byAge.seal(material(), { resourceId: 'r', kid: 'c' });
    expect(byAge.stats().generateDataKeyCalls).toBe(2);
    const edk = (b: Buffer) => {
      const at = 4 + b.readUInt8(1);
      return b.subarray(at, at + b.readUInt16BE(at - 2)).toString('hex');
    };
    expect(edk(first)).toBe(edk(second));
    expect(edk(third)).not.toBe(edk(second));
  });

  it('bounds the decrypt cache by size and age', async () => {
    const sealers = [cipher({ maxDataKeyUses: 1 })];
    const sealer = sealers[0] as KmsEnvelopeCipher;
    const ctxs = Array.from({ length: 3 }, (_, i) => ({ resourceId: 'r', kid: `k${i}` }));
    const sealed = [];
    for (const ctx of ctxs) sealed.push(await sealer.seal(material(), ctx));

    const small = cipher({ decryptCacheSize: 2 });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) await small.open(sealed[i] as Buffer, ctxs[i] as { resourceId: string; kid: string });
    }
    expect(small.stats().decryptCalls).toBe(6); // LRU of 2 cycling over 3 keys never hits

    let now = 0;
    const aging = new KmsEnvelopeCipher(
      client(),
      { keyId, encryptionContext: CONTEXT, maxDataKeyAgeMs: 1000 },
      () => now,
    );
    await aging.open(sealed[0] as Buffer, ctxs[0] as { resourceId: string; kid: string });
    await aging.open(sealed[0] as Buffer, ctxs[0] as { resourceId: string; kid: string });
    expect(aging.stats().decryptCalls).toBe(1);
    now += 1000;
    await aging.open(sealed[0] as Buffer, ctxs[0] as { resourceId: string; kid: string });
    expect(aging.stats().decryptCalls).toBe(2);
  });

  it('prepareToSeal starts one GenerateDataKey that the next seal shares, and none while a key is usable', async () => {
    const c = cipher();
    c.prepareToSeal();
    c.prepareToSeal();
    await c.seal(material(), { resourceId: 'r', kid: 'k1' });
    expect(c.stats().generateDataKeyCalls).toBe(1);
    c.prepareToSeal();
    await c.seal(material(), { resourceId: 'r', kid: 'k2' });
    expect(c.stats().generateDataKeyCalls).toBe(1);
  });

  it('lets a SPEKE issuance overlap the data key fetch with its store reads', async () => {
    const c = cipher();
    const store = openSqliteBackend(':memory:');
    let dataKeyCallsWhenReadsEnded = -1;
    const slowReads = {
      ...store,
      keys: {
        get: async (kids: string[]) => {
          await new Promise((r) => setTimeout(r, 50));
          dataKeyCallsWhenReadsEnded = c.stats().generateDataKeyCalls;
          return store.keys.get(kids);
        },
      },
    };
    const keys = new KeyService(slowReads, c, 600);
    await keys.issue({
      resourceId: 'r',
      owner: 'o',
      tenant: 'default',
      rotating: false,
      keys: [{ kid: crypto.randomUUID() }],
    });
    expect(dataKeyCallsWhenReadsEnded).toBe(1);
    expect(c.stats().generateDataKeyCalls).toBe(1);
    await store.close();
  });

  it('prepareToSeal against a KMS that is down rejects nothing; the seal reports the 503', async () => {
    const down = cipher({}, client(`http://127.0.0.1:${await closedPort()}`));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      down.prepareToSeal();
      await new Promise((r) => setTimeout(r, 200));
      await expect(down.seal(material(), { resourceId: 'r', kid: 'k' })).rejects.toBeInstanceOf(
        ServiceUnavailableError,
      );
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('reports KMS down (closed loopback port) as ServiceUnavailableError quickly', async () => {
    const port = await closedPort();
    const down = cipher({}, client(`http://127.0.0.1:${port}`));
    const started = Date.now();
    const err = await down.seal(material(), { resourceId: 'r', kid: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect((err as ServiceUnavailableError).status).toBe(503);
    expect((err as ServiceUnavailableError).headers['Retry-After']).toBeDefined();
    expect((err as Error).message).toBe('AWS KMS unavailable: ECONNREFUSED');
    const sealed = await cipher().seal(material(), { resourceId: 'r', kid: 'k' });
    await expect(down.open(sealed, { resourceId: 'r', kid: 'k' })).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports a KMS that accepts but never answers as ServiceUnavailableError after the client timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const kms = client(`http://127.0.0.1:${port}`, {
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 300, requestTimeout: 500, throwOnRequestTimeout: true },
      });
      const started = Date.now();
      const err = await cipher({}, kms)
        .seal(material(), { resourceId: 'r', kid: 'k' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect((err as Error).message).toMatch(/^AWS KMS unavailable: /);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
