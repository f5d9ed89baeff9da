import crypto from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHttpServer } from '../../src/server';
import { fixture } from '../helpers/fixtures';
import { slowRequest } from '../helpers/slow-client';
import { makeTestApp, type TestApp } from '../helpers/test-app';

const ENCODER = { accessKeyId: 'AKIAENCODER0001', secretAccessKey: 'enc/Secret+Key/0123456789abcdefABCDEF' };
const PROXY = { accessKeyId: 'AKIAPROXY0000001', secretAccessKey: 'proxySecretKey0123456789abcdefABCDEF01' };
const TIMEOUTS = { headersTimeoutMs: 1000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 5000 };

let t: TestApp;
let server: Server;
let port: number;

beforeAll(async () => {
  t = await makeTestApp({
    KEYPLANE_SIGV4_CREDENTIALS: [
      `${ENCODER.accessKeyId}:${ENCODER.secretAccessKey}:encoder`,
      `${PROXY.accessKeyId}:${PROXY.secretAccessKey}:keyserver`,
    ].join(','),
  });
  server = createHttpServer(t.app, TIMEOUTS);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await t.close();
});

type Creds = { accessKeyId: string; secretAccessKey: string };

/** Signs a request with the AWS SDK signer; returns its head (request line and headers) as raw HTTP. */
async function signedHead(
  creds: Creds,
  req: { method: string; path: string; body?: string; headers?: Record<string, string>; contentLength?: number },
): Promise<string> {
  const host = `127.0.0.1:${port}`;
  const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 'execute-api', sha256: Sha256 });
  const signed = await signer.sign({
    method: req.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: req.path,
    query: {},
    headers: { host, ...(req.headers ?? {}) },
    body: req.body,
  });
  const length = req.contentLength ?? (req.body === undefined ? undefined : Buffer.byteLength(req.body));
  const headers = { ...signed.headers, ...(length === undefined ? {} : { 'content-length': String(length) }) };
  return `${req.method} ${req.path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

const spekeBody = fixture('v1/hls-single-key.xml');
const speke = (extra: Record<string, string> = {}) => ({
  method: 'POST',
  path: '/copyProtection',
  body: spekeBody,
  headers: { 'content-type': 'application/xml', ...extra },
});

describe('SigV4 refuses before reading the body', () => {
  it.each([
    ['a wrong secret', { ...ENCODER, secretAccessKey: 'not-the-secret-0123456789abcdef' }, 'signature_mismatch'],
    [
      'an unknown access key',
      { accessKeyId: 'AKIAUNKNOWN00001', secretAccessKey: 'x'.repeat(30) },
      'unknown_access_key',
    ],
  ])('answers %s with 403 from the headers alone, the body never sent', async (_name, creds, reason) => {
    const head = await signedHead(creds, speke());
    const res = await slowRequest(port, head, { giveUpMs: TIMEOUTS.requestTimeoutMs + 3000 });
    expect(res.text).toMatch(/^HTTP\/1\.1 403/);
    expect(res.text).toContain(reason);
    expect(res.firstByteMs).toBeLessThan(TIMEOUTS.requestTimeoutMs);
  });

  it('accepts the same request signed right, and checks the body against the declared hash as it is read', async () => {
    const head = await signedHead(ENCODER, speke());
    expect(head).toMatch(/x-amz-content-sha256: [0-9a-f]{64}/);
    const ok = await slowRequest(port, head + spekeBody, { giveUpMs: 1500 });
    expect(ok.text).toMatch(/^HTTP\/1\.1 200/);
    const tampered = spekeBody.replace('MovieNight20171126093045', 'OtherMovie000000000000009');
    const bad = await slowRequest(port, head + tampered, { giveUpMs: 1500 });
    expect(bad.text).toMatch(/^HTTP\/1\.1 403/);
    expect(bad.text).toContain('content_sha256_mismatch');
    expect(await t.deps.store.leases.get('OtherMovie000000000000009')).toBeUndefined();
  });

  it('refuses UNSIGNED-PAYLOAD on a request with a body, before reading it', async () => {
    const head = await signedHead(ENCODER, speke({ 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }));
    const res = await slowRequest(port, head, { giveUpMs: TIMEOUTS.requestTimeoutMs + 3000 });
    expect(res.text).toMatch(/^HTTP\/1\.1 403/);
    expect(res.text).toContain('unsigned_payload');
    expect(res.firstByteMs).toBeLessThan(TIMEOUTS.requestTimeoutMs);
  });

  it('accepts UNSIGNED-PAYLOAD on a request without a body', async () => {
    await t.deps.staticKeys.create({ resourceId: 'unsigned-get' }, 'default');
    const { kid } = (await t.deps.staticKeys.show('unsigned-get', 'default')) as { kid: string };
    const path = `/keys/unsigned-get/${kid}`;
    const head = await signedHead(PROXY, {
      method: 'GET',
      path,
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const res = await slowRequest(port, head, { giveUpMs: 1500 });
    expect(res.text).toMatch(/^HTTP\/1\.1 200/);
  });

  it('hashes the body of a request whose signer left x-amz-content-sha256 out, bounded by the body limit', async () => {
    const signer = new SignatureV4({
      credentials: ENCODER,
      region: 'us-east-1',
      service: 'execute-api',
      sha256: Sha256,
      applyChecksum: false,
    });
    const body = crypto.randomBytes(8).toString('hex');
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port,
      path: '/copyProtection',
      query: {},
      headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/xml' },
      body,
    });
    const res = await fetch(`http://127.0.0.1:${port}/copyProtection`, {
      method: 'POST',
      headers: { ...signed.headers, host: `127.0.0.1:${port}` },
      body: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
  });

  it.each([
    ['the signed x-amz-content-sha256', true, 'content_sha256_mismatch'],
    ['the body itself (no hash header)', false, 'signature_mismatch'],
  ])(
    'checks a Clear Key license body against %s (its route is mounted before the app-wide authentication)',
    async (_name, applyChecksum, reason) => {
      await t.deps.staticKeys.create({ resourceId: `ck-${reason}` }, 'default');
      const { kid } = (await t.deps.staticKeys.show(`ck-${reason}`, 'default')) as { kid: string };
      const b64url = (k: string) => Buffer.from(k.replace(/-/g, ''), 'hex').toString('base64url');
      const body = JSON.stringify({ kids: [b64url(kid)], type: 'temporary' });
      const signer = new SignatureV4({
        credentials: PROXY,
        region: 'us-east-1',
        service: 'execute-api',
        sha256: Sha256,
        applyChecksum,
      });
      const host = `127.0.0.1:${port}`;
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        path: '/clearkey/license',
        query: {},
        headers: { host, 'content-type': 'application/json' },
        body,
      });
      const send = (b: string) =>
        fetch(`http://${host}/clearkey/license`, { method: 'POST', headers: { ...signed.headers, host }, body: b });
      expect((await send(body)).status).toBe(200);
      const other = JSON.stringify({ kids: [b64url(crypto.randomUUID())], type: 'temporary' });
      const res = await send(other);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain(reason);
    },
  );
});
