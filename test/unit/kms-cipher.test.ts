import crypto from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { ServiceUnavailableError } from '../../src/errors';
import { KeyUnsealError } from '../../src/keys/envelope-cipher-errors';
import { KmsEnvelopeCipher } from '../../src/keys/kms-cipher';

type Send = (command: unknown) => Promise<unknown>;

/** An in-memory KMS: data keys are remembered by blob; `failWith` makes the next calls throw. */
class FakeKms {
  readonly keys = new Map<string, Buffer>();
  readonly calls: string[] = [];
  failWith: Error | undefined;
  delayMs = 5;

  readonly send: Send = async (command) => {
    this.calls.push(command instanceof GenerateDataKeyCommand ? 'GenerateDataKey' : 'Decrypt');
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failWith) throw this.failWith;
    if (command instanceof GenerateDataKeyCommand) {
      expect(command.input).toMatchObject({ KeyId: 'alias/keyplane', KeySpec: 'AES_256', EncryptionContext: CONTEXT });
      const plaintext = crypto.randomBytes(32);
      const blob = crypto.randomBytes(120);
      this.keys.set(blob.toString('hex'), plaintext);
      return { KeyId: KEY_ARN, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
    }
    if (command instanceof DecryptCommand) {
      // Values name the key ARN GenerateDataKey reported, and Decrypt is pinned to it.
      expect(command.input).toMatchObject({ KeyId: KEY_ARN, EncryptionContext: CONTEXT });
      const plaintext = this.keys.get(Buffer.from(command.input.CiphertextBlob ?? []).toString('hex'));
      if (!plaintext) throw awsError('InvalidCiphertextException');
      return { Plaintext: new Uint8Array(plaintext) };
    }
    throw new Error('unexpected command');
  };

  client(): KMSClient {
    return { send: this.send } as unknown as KMSClient;
  }
}

const CONTEXT = { app: 'keyplane', deployment: 'unit' };
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const ctx = { resourceId: 'res-1', kid: 'kid-1' };

function awsError(name: string): Error {
  return Object.assign(new Error(`${name} happened`), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function cipherFor(kms: FakeKms, options: { decryptCacheSize?: number } = {}): KmsEnvelopeCipher {
  return new KmsEnvelopeCipher(kms.client(), { keyId: 'alias/keyplane', encryptionContext: CONTEXT, ...options });
}

describe('KmsEnvelopeCipher (fake KMS)', () => {
  it('shares one in-flight GenerateDataKey among concurrent sealers', async () => {
    const kms = new FakeKms();
    const cipher = cipherFor(kms);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => cipher.seal(crypto.randomBytes(32), { ...ctx, kid: `k${i}` })),
    );
    expect(kms.calls).toEqual(['GenerateDataKey']);
    expect(cipher.stats()).toEqual({ generateDataKeyCalls: 1, decryptCalls: 0 });
  });

  it('shares one in-flight Decrypt among concurrent openers of values under one data key', async () => {
    const kms = new FakeKms();
    const values = Array.from({ length: 50 }, (_, i) => ({ c: { ...ctx, kid: `k${i}` }, p: crypto.randomBytes(32) }));
    const sealer = cipherFor(kms);
    const sealed = await Promise.all(values.map((v) => sealer.seal(v.p, v.c)));
    const opener = cipherFor(kms);
    const opened = await Promise.all(values.map((v, i) => opener.open(sealed[i] as Buffer, v.c)));
    expect(opened).toEqual(values.map((v) => v.p));
    expect(opener.stats()).toEqual({ generateDataKeyCalls: 0, decryptCalls: 1 });
  });

  it('opens its own sealed values without calling Decrypt', async () => {
    const kms = new FakeKms();
    const cipher = cipherFor(kms);
    const plain = crypto.randomBytes(32);
    await expect(cipher.open(await cipher.seal(plain, ctx), ctx)).resolves.toEqual(plain);
    expect(cipher.stats().decryptCalls).toBe(0);
  });

  it.each([
    ['ThrottlingException', '1'],
    ['KMSInternalException', '5'],
    ['DependencyTimeoutException', '5'],
    ['KMSInvalidStateException', '5'],
    ['DisabledException', '5'],
    ['AccessDeniedException', '5'],
  ])('maps %s to ServiceUnavailableError (Retry-After %s) without caching the failure', async (name, retryAfter) => {
    const kms = new FakeKms();
    const cipher = cipherFor(kms);
    kms.failWith = awsError(name);
    const results = await Promise.allSettled([
      cipher.seal(crypto.randomBytes(32), ctx),
      cipher.seal(crypto.randomBytes(32), ctx),
    ]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as ServiceUnavailableError;
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect(err.message).toBe(`AWS KMS unavailable: ${name}`);
      expect(err.headers['Retry-After']).toBe(retryAfter);
    }
    expect(kms.calls).toHaveLength(1);
    kms.failWith = undefined;
    await expect(cipher.seal(crypto.randomBytes(32), ctx)).resolves.toBeInstanceOf(Buffer);
    expect(kms.calls).toHaveLength(2);
  });

  it('maps a network error to ServiceUnavailableError naming its code', async () => {
    const kms = new FakeKms();
    kms.failWith = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    await expect(cipherFor(kms).seal(crypto.randomBytes(32), ctx)).rejects.toThrow('AWS KMS unavailable: ECONNREFUSED');
  });

  it.each(['InvalidCiphertextException', 'IncorrectKeyException'])(
    'maps %s on Decrypt to KeyUnsealError naming each caller context, never key bytes',
    async (name) => {
      const kms = new FakeKms();
      const plain = crypto.randomBytes(32);
      const sealed = await cipherFor(kms).seal(plain, ctx);
      kms.failWith = awsError(name);
      const opener = cipherFor(kms);
      const other = { resourceId: 'res-1', kid: 'kid-2' };
      const [a, b] = await Promise.allSettled([opener.open(sealed, ctx), opener.open(sealed, other)]);
      expect(kms.calls.filter((c) => c === 'Decrypt')).toHaveLength(1);
      for (const [r, c] of [
        [a, ctx],
        [b, other],
      ] as const) {
        const err = (r as PromiseRejectedResult).reason as KeyUnsealError;
        expect(err).toBeInstanceOf(KeyUnsealError);
        expect(err.context).toEqual(c);
        expect(err.message).toContain(c.kid);
        expect(err.message).toContain(name);
        expect(err.message).not.toContain(plain.toString('hex'));
        expect(err.message).not.toContain(plain.toString('base64'));
      }
    },
  );

  it('evicts the least recently used data key when the decrypt cache is full', async () => {
    const kms = new FakeKms();
    const sealed: Buffer[] = [];
    for (let i = 0; i < 3; i++) sealed.push(await cipherFor(kms).seal(crypto.randomBytes(32), ctx));
    const opener = cipherFor(kms, { decryptCacheSize: 2 });
    const open = (i: number) => opener.open(sealed[i] as Buffer, ctx);
    await open(0);
    await open(1);
    await open(0); // hit: 0 becomes most recent
    await open(2); // evicts 1
    await open(0); // hit
    expect(opener.stats().decryptCalls).toBe(3);
    await open(1); // miss
    expect(opener.stats().decryptCalls).toBe(4);
  });

  it('rejects bad options', () => {
    const kms = new FakeKms();
    expect(() => new KmsEnvelopeCipher(kms.client(), { keyId: '', encryptionContext: CONTEXT })).toThrow(/keyId/);
    expect(() => new KmsEnvelopeCipher(kms.client(), { keyId: 'k', encryptionContext: {} })).toThrow(
      /encryptionContext/,
    );
    expect(
      () => new KmsEnvelopeCipher(kms.client(), { keyId: 'k', encryptionContext: CONTEXT, maxDataKeyUses: 0 }),
    ).toThrow(/maxDataKeyUses/);
  });
});
