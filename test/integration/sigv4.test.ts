import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { createSignedFetcher } from 'aws-sigv4-fetch';
import { fixture } from '../helpers/fixtures';
import { responseKeys } from '../helpers/cpix';
import { asSpec, listen, read, type LiveApp } from '../helpers/live-app';
import { expectMatchesSpec } from '../helpers/openapi';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

const ENCODER = { accessKeyId: 'AKIAENCODER0001', secretAccessKey: 'enc/Secret+Key/0123456789abcdefABCDEF' };
const PROXY = { accessKeyId: 'AKIAPROXY0000001', secretAccessKey: 'proxySecretKey0123456789abcdefABCDEF01' };
const ADMIN = { accessKeyId: 'AKIAADMIN0000001', secretAccessKey: 'adminSecretKey0123456789abcdefABCDEF0' };
const line = (c: { accessKeyId: string; secretAccessKey: string }, roles: string) =>
  `${c.accessKeyId}:${c.secretAccessKey}:${roles}`;
const KID = '6c5f5206-7d98-4808-84d8-94f132c1e9fe';
const RESOURCE = 'MovieNight20171126093045';

let t: TestApp;
let live: LiveApp;

async function start(env: Record<string, string>): Promise<void> {
  t = await makeTestApp(env);
  live = await listen(t.app);
}

afterEach(async () => {
  await live.close();
  await t.close();
});

type Creds = { accessKeyId: string; secretAccessKey: string };
const signedFetch = (credentials: Creds, opts: { service?: string; region?: string } = {}) =>
  createSignedFetcher({ service: opts.service ?? 'execute-api', region: opts.region ?? 'us-east-1', credentials });

function speke(fetcher: typeof fetch): Promise<globalThis.Response> {
  return fetcher(`${live.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/xml' },
    body: fixture('v1/hls-single-key.xml'),
  });
}

/** Signs with the AWS SDK signer directly; returns the request to send as URL + init. */
async function sdkSign(
  credentials: Creds,
  req: { method: string; path: string; body?: string; headers?: Record<string, string> },
  opts: { signingDate?: Date; unsignableHeaders?: Set<string>; applyChecksum?: boolean; region?: string } = {},
) {
  const url = new URL(req.path, live.baseUrl);
  const request: HttpRequest = {
    method: req.method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host: url.host, ...(req.headers ?? {}) },
    body: req.body,
  };
  const signer = new SignatureV4({
    credentials,
    region: opts.region ?? 'us-east-1',
    service: 'execute-api',
    sha256: Sha256,
    applyChecksum: opts.applyChecksum,
  });
  const signed = await signer.sign(request, {
    signingDate: opts.signingDate,
    unsignableHeaders: opts.unsignableHeaders,
  });
  const headers = { ...signed.headers };
  delete headers.host;
  return { url: url.toString(), init: { method: req.method, headers, body: req.body } };
}

describe('SigV4 with aws-sigv4-fetch against a listening app', () => {
  beforeEach(async () => {
    await start({
      KEYPLANE_SIGV4_CREDENTIALS: [line(ENCODER, 'encoder'), line(PROXY, 'keyserver'), line(ADMIN, 'admin')].join(','),
    });
  });

  it('accepts a signed SPEKE request, owns the lease as sigv4:<accessKeyId>, and serves the key to a signed proxy', async () => {
    const res = await read(await speke(signedFetch(ENCODER)));
    expect(res.status).toBe(200);
    expectMatchesSpec('post', '/copyProtection', asSpec(res));
    const key = responseKeys(res.text).get(KID)?.key as Buffer;
    expect(key).toHaveLength(16);

    const lease = await read(
      await fetch(`${live.baseUrl}/leases/${RESOURCE}`, { headers: { 'x-api-key': ADMIN_KEY } }),
    );
    expect(lease.body).toMatchObject({ owner: `sigv4:${ENCODER.accessKeyId}` });

    const delivered = await read(await signedFetch(PROXY)(`${live.baseUrl}/keys/${RESOURCE}/${KID}`));
    expect(delivered.status).toBe(200);
    expect(delivered.headers['cache-control']).toBe('no-store');
    expect(delivered.bytes.equals(key)).toBe(true);
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', asSpec(delivered));
  });

  it('lets a signed admin create a static key (JSON body parsed after verification) and list API keys', async () => {
    const admin = signedFetch(ADMIN);
    const created = await read(
      await admin(`${live.baseUrl}/static-keys`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ resourceId: 'sig-vod-1' }),
      }),
    );
    expect(created.status).toBe(201);
    expectMatchesSpec('post', '/static-keys', asSpec(created));
    expect(created.body).toMatchObject({ resourceId: 'sig-vod-1' });
    const list = await read(await admin(`${live.baseUrl}/api-keys?limit=10&a=b%20c`));
    expect(list.status).toBe(200);
    expectMatchesSpec('get', '/api-keys', asSpec(list));
  });

  it('enforces roles: a keyserver credential cannot call SPEKE', async () => {
    const res = await read(await speke(signedFetch(PROXY)));
    expect(res.status).toBe(403);
    expectMatchesSpec('post', '/copyProtection', asSpec(res));
  });

  it('lets an unsigned request fall through to 401', async () => {
    const res = await read(await fetch(`${live.baseUrl}/keys/${RESOURCE}/${KID}`));
    expect(res.status).toBe(401);
  });

  it.each([
    ['wrong secret', { ...PROXY, secretAccessKey: 'not-the-secret-0123456789abcdef' }, {}, 'signature_mismatch'],
    [
      'unknown access key',
      { accessKeyId: 'AKIAUNKNOWN00001', secretAccessKey: 'whatever0123456789abcdef' },
      {},
      'unknown_access_key',
    ],
    ['wrong region', PROXY, { region: 'eu-west-1' }, 'scope_mismatch'],
    ['wrong service', PROXY, { service: 's3' }, 'scope_mismatch'],
  ])('answers 403 for %s', async (_name, creds, opts, reason) => {
    const res = await read(await signedFetch(creds, opts)(`${live.baseUrl}/keys/${RESOURCE}/${KID}`));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'forbidden', reason });
    expectMatchesSpec('get', '/keys/{resourceId}/{kid}', asSpec(res));
  });
});

describe('SigV4 with the AWS SDK signer (@smithy/signature-v4)', () => {
  beforeEach(async () => {
    await start({
      KEYPLANE_SIGV4_CREDENTIALS: `${line(ENCODER, 'encoder')},${line(PROXY, 'keyserver')}`,
      KEYPLANE_SIGV4_REGION: 'eu-central-1',
    });
  });

  const speke = (body: string) => ({
    method: 'POST',
    path: '/copyProtection',
    body,
    headers: { 'content-type': 'application/xml' },
  });

  it('accepts a header-signed SPEKE request and a presigned key URL', async () => {
    const signed = await sdkSign(ENCODER, speke(fixture('v1/hls-single-key.xml')), { region: 'eu-central-1' });
    const res = await read(await fetch(signed.url, signed.init));
    expect(res.status).toBe(200);
    const key = responseKeys(res.text).get(KID)?.key as Buffer;

    const signer = new SignatureV4({
      credentials: PROXY,
      region: 'eu-central-1',
      service: 'execute-api',
      sha256: Sha256,
    });
    const url = new URL(`/keys/${RESOURCE}/${KID}`, live.baseUrl);
    const presigned = await signer.presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query: {},
        headers: { host: url.host },
      },
      { expiresIn: 120 },
    );
    for (const [k, v] of Object.entries(presigned.query ?? {})) url.searchParams.set(k, String(v));
    const delivered = await read(await fetch(url));
    expect(delivered.status).toBe(200);
    expect(delivered.bytes.equals(key)).toBe(true);

    url.searchParams.set('X-Amz-Expires', '3600');
    const stretched = await read(await fetch(url));
    expect(stretched.status).toBe(403);
    expect(stretched.body).toMatchObject({ reason: 'signature_mismatch' });
  });

  it('rejects a tampered body: declared hash differs (content_sha256_mismatch)', async () => {
    const signed = await sdkSign(ENCODER, speke(fixture('v1/hls-single-key.xml')), { region: 'eu-central-1' });
    const tampered = fixture('v1/hls-single-key.xml', { MovieNight20171126093045: 'OtherMovie000000000000001' });
    const res = await read(await fetch(signed.url, { ...signed.init, body: tampered }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'content_sha256_mismatch' });
    expect(await t.deps.store.leases.get('OtherMovie000000000000001')).toBeUndefined();
  });

  it('rejects a tampered body without x-amz-content-sha256: the body is hashed (signature_mismatch)', async () => {
    const signed = await sdkSign(ENCODER, speke(fixture('v1/hls-single-key.xml')), {
      region: 'eu-central-1',
      applyChecksum: false,
    });
    expect(Object.keys(signed.init.headers)).not.toContain('x-amz-content-sha256');
    const ok = await read(await fetch(signed.url, signed.init));
    expect(ok.status).toBe(200);
    const tampered = fixture('v1/hls-single-key.xml', { MovieNight20171126093045: 'OtherMovie000000000000002' });
    const res = await read(await fetch(signed.url, { ...signed.init, body: tampered }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'signature_mismatch' });
  });

  it.each([
    ['10 minutes in the past', -10],
    ['10 minutes in the future', 10],
  ])('rejects a request signed %s (request_time_skewed)', async (_name, minutes) => {
    const signingDate = new Date(Date.now() + minutes * 60_000);
    const signed = await sdkSign(
      PROXY,
      { method: 'GET', path: `/keys/${RESOURCE}/${KID}` },
      { region: 'eu-central-1', signingDate },
    );
    const res = await read(await fetch(signed.url, signed.init));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'request_time_skewed' });
  });

  it('rejects a signature whose signed headers leave out host (unsigned_headers)', async () => {
    const signed = await sdkSign(
      PROXY,
      { method: 'GET', path: `/keys/${RESOURCE}/${KID}` },
      { region: 'eu-central-1', unsignableHeaders: new Set(['host']) },
    );
    expect(String(signed.init.headers.authorization)).not.toMatch(/SignedHeaders=[^,]*host/);
    const res = await read(await fetch(signed.url, signed.init));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'unsigned_headers' });
  });

  it('rejects a request whose query was changed after signing', async () => {
    const signed = await sdkSign(
      PROXY,
      { method: 'GET', path: `/keys/${RESOURCE}/${KID}?a=1` },
      { region: 'eu-central-1' },
    );
    const res = await read(await fetch(signed.url.replace('a=1', 'a=2'), signed.init));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'signature_mismatch' });
  });

  it('refuses more than 128 query parameters before it canonicalises them; a signed 128 still verifies', async () => {
    const query = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=1`).join('&');
    const at100 = await sdkSign(
      PROXY,
      { method: 'GET', path: `/keys/${RESOURCE}/${KID}?${query(128)}` },
      {
        region: 'eu-central-1',
      },
    );
    // Authenticated: past the signature to the store, where this block has no such key.
    expect((await fetch(at100.url, at100.init)).status).toBe(404);
    const over = await sdkSign(
      PROXY,
      { method: 'GET', path: `/keys/${RESOURCE}/${KID}?${query(129)}` },
      {
        region: 'eu-central-1',
      },
    );
    const res = await read(await fetch(over.url, over.init));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'malformed_signature' });
    expect(JSON.stringify(res.body)).toContain('more than 128 query parameters');
  });
});

describe('SigV4 credentials from a file', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-sigv4-'));
    file = path.join(dir, 'credentials');
    fs.writeFileSync(file, `# proxies\n${line(PROXY, 'keyserver')}\n${line(ENCODER, 'encoder')}\n`, { mode: 0o600 });
    await start({ KEYPLANE_SIGV4_CREDENTIALS_FILE: file });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('revokes a key as soon as its line is removed, and accepts it again when restored', async () => {
    await t.deps.staticKeys.create({ resourceId: 'file-vod' }, 'default');
    const { kid } = (await t.deps.staticKeys.show('file-vod', 'default')) as { kid: string };
    const get = () => signedFetch(PROXY)(`${live.baseUrl}/keys/file-vod/${kid}`).then(read);
    expect((await get()).status).toBe(200);

    fs.writeFileSync(file, `${line(ENCODER, 'encoder')}\n`);
    const revoked = await get();
    expect(revoked.status).toBe(403);
    expect(revoked.body).toMatchObject({ reason: 'unknown_access_key' });

    const tmp = `${file}.new`;
    fs.writeFileSync(tmp, `${line(ENCODER, 'encoder')}\n${line(PROXY, 'keyserver')}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
    expect((await get()).status).toBe(200);
  });

  it('answers 503 while the file is invalid, without echoing secrets', async () => {
    fs.writeFileSync(file, `${PROXY.accessKeyId}:short:keyserver\n`);
    const res = await signedFetch(PROXY)(`${live.baseUrl}/keys/x/${crypto.randomUUID()}`).then(read);
    expect(res.status).toBe(503);
    expect(res.text).not.toContain(PROXY.secretAccessKey);
    expect(res.text).toMatch(/line 1/);
  });
});
