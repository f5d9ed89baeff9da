import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { buildCpixRequest } from '../../src/cli/cpix-request-builder';
import { parsePsshBox, readCpixResponse } from '../../src/cli/cpix-response-reader';
import { readAnswer, signedBody, type AesSignerKey, type WidevineAnswer } from '../../src/cli/widevine-client';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { bytesToUuid } from '../../src/drm/pssh';
import { encodeVarint, fourCc } from '../../src/drm/widevine';
import { aesSignature } from '../../src/widevine/request-signers';
import { ADMIN_KEY, makeTestApp, type TestApp } from '../helpers/test-app';

// POST /widevine/cenc through the real app (SQLite, local cipher): Shaka Packager's request shape, signers per
// tenant, stable derived KIDs, key rotation, refusals that never carry a key, and keys that are Keyplane's keys
// (GET /keys, SPEKE, audit).

const SIGNER: AesSignerKey = { name: 'packager-acme', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const OTHER: AesSignerKey = { name: 'packager-other', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const RSA_PAIR = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

let t: TestApp;
let rsaDir: string;
let acmeEncoder: string;

const hexOf = (s: AesSignerKey) => `${s.key.toString('hex')}:${s.iv.toString('hex')}`;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const uuid = (b: Buffer) => bytesToUuid(b);

function cencRequest(resourceId: string, extra: Record<string, unknown> = {}) {
  return {
    content_id: b64(resourceId),
    policy: '',
    tracks: ['SD', 'HD', 'UHD1', 'UHD2', 'AUDIO'].map((type) => ({ type })),
    drm_types: ['WIDEVINE'],
    protection_scheme: 'CENC',
    ...extra,
  };
}

async function post(body: string): Promise<WidevineAnswer & { raw: string }> {
  const res = await request(t.app).post('/widevine/cenc').set('Content-Type', 'application/json').send(body);
  return { ...readAnswer(res.status, res.text), raw: res.text };
}

/** A body whose signed request is `message` as it is (not necessarily JSON). */
function signedRaw(message: Buffer): string {
  const signature = aesSignature(message, SIGNER.key, SIGNER.iv).toString('base64');
  return JSON.stringify({ request: message.toString('base64'), signature, signer: SIGNER.name });
}

const ask = (resourceId: string, extra: Record<string, unknown> = {}, signer: AesSignerKey = SIGNER) =>
  post(signedBody(cencRequest(resourceId, extra), signer));

beforeAll(async () => {
  rsaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-wv-rsa-'));
  const pem = path.join(rsaDir, 'signer.pem');
  fs.writeFileSync(pem, RSA_PAIR.publicKey.export({ type: 'spki', format: 'pem' }));
  t = await makeTestApp({
    KEYPLANE_WIDEVINE_SIGNERS: `${SIGNER.name}:${hexOf(SIGNER)}:acme,${OTHER.name}:${hexOf(OTHER)}:other`,
    KEYPLANE_WIDEVINE_RSA_SIGNERS: `rsa-acme:${pem}:acme`,
    KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
  });
  acmeEncoder = (await t.deps.apiKeys.create('acme-encoder', ['encoder'], 'acme')).key;
});

afterAll(async () => {
  await t.close();
  fs.rmSync(rsaDir, { recursive: true, force: true });
});

describe('POST /widevine/cenc: keys for a signed request', () => {
  it('answers one key per track type with a Widevine pssh naming its KID and the content ID', async () => {
    const answer = await ask('wv-movie-1');
    expect(answer.http).toBe(200);
    expect(answer.status).toBe('OK');
    expect(answer.tracks.map((tr) => tr.type)).toEqual(['SD', 'HD', 'UHD1', 'UHD2', 'AUDIO']);
    expect(new Set(answer.tracks.map((tr) => tr.keyId.toString('hex'))).size).toBe(5);
    for (const track of answer.tracks) {
      expect(track.key).toHaveLength(16);
      expect(track.cryptoPeriodIndex).toBeUndefined();
      expect(track.pssh).toHaveLength(1);
      const [pssh] = track.pssh;
      expect(pssh?.drmType).toBe('WIDEVINE');
      const box = parsePsshBox(pssh?.boxes as Buffer);
      expect(box.systemId).toBe(SYSTEM_IDS.widevine);
      expect(box.data).toEqual(pssh?.data);
      expect(pssh?.data?.includes(track.keyId)).toBe(true);
      expect(pssh?.data?.includes(Buffer.from('wv-movie-1'))).toBe(true);
      // cenc: protection_scheme 'cenc' (field 9) is in the WidevinePsshData
      expect(pssh?.data?.includes(Buffer.concat([Buffer.from([0x48]), encodeVarint(fourCc('cenc'))]))).toBe(true);
    }
  });

  it('answers the same KIDs and keys when asked again (KIDs derived, keys stored)', async () => {
    const [a, b] = [await ask('wv-stable'), await ask('wv-stable')];
    expect(b.tracks.map((tr) => [tr.keyId.toString('hex'), tr.key.toString('hex')])).toEqual(
      a.tracks.map((tr) => [tr.keyId.toString('hex'), tr.key.toString('hex')]),
    );
    const other = await ask('wv-stable-2');
    expect(other.tracks[0]?.keyId).not.toEqual(a.tracks[0]?.keyId);
  });

  it('key rotation: crypto_period_count keys per track from first_crypto_period_index, periods in order', async () => {
    const answer = await ask('wv-live', {
      first_crypto_period_index: 7,
      crypto_period_count: 3,
      crypto_period_seconds: 2,
    });
    expect(answer.status).toBe('OK');
    expect(answer.tracks.map((tr) => tr.cryptoPeriodIndex)).toEqual([7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9]);
    expect(new Set(answer.tracks.map((tr) => tr.keyId.toString('hex'))).size).toBe(15);
    const overlap = await ask('wv-live', { first_crypto_period_index: 8, crypto_period_count: 1 });
    expect(overlap.tracks.map((tr) => tr.keyId)).toEqual(answer.tracks.slice(5, 10).map((tr) => tr.keyId));
    expect(overlap.tracks.map((tr) => tr.key)).toEqual(answer.tracks.slice(5, 10).map((tr) => tr.key));
    const single = await ask('wv-live');
    expect(single.tracks.map((tr) => tr.keyId.toString('hex'))).not.toContain(answer.tracks[0]?.keyId.toString('hex'));
  });

  it('PLAYREADY in drm_types adds a PlayReady pssh (WRMHEADER 4.3 for cbcs) after the Widevine one', async () => {
    const answer = await ask('wv-pr', { drm_types: ['WIDEVINE', 'PLAYREADY'], protection_scheme: 'CBCS' });
    for (const track of answer.tracks) {
      expect(track.pssh.map((p) => p.drmType)).toEqual(['WIDEVINE', 'PLAYREADY']);
      const box = parsePsshBox(track.pssh[1]?.boxes as Buffer);
      expect(box.systemId).toBe(SYSTEM_IDS.playready);
      expect(Buffer.from(box.data).toString('utf16le')).toContain('version="4.3.0.0"');
    }
  });

  it('an RSA signer (RSASSA-PSS, SHA-1, 20-byte salt, as Shaka Packager signs) gets keys', async () => {
    const message = Buffer.from(JSON.stringify(cencRequest('wv-rsa')), 'utf8');
    const signature = crypto.sign('sha1', message, {
      key: RSA_PAIR.privateKey,
      padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 20,
    });
    const body = JSON.stringify({
      request: message.toString('base64'),
      signature: signature.toString('base64'),
      signer: 'rsa-acme',
    });
    expect((await post(body)).status).toBe('OK');
    const wrong = JSON.stringify({
      request: message.toString('base64'),
      signature: Buffer.alloc(256).toString('base64'),
      signer: 'rsa-acme',
    });
    expect((await post(wrong)).status).toBe('SIGNATURE_FAILED');
  });
});

describe('the keys are Keyplane keys', () => {
  it('GET /keys serves them, a SPEKE request for the same KIDs gets the same keys, the audit names the signer', async () => {
    const answer = await ask('wv-shared', { tracks: [{ type: 'SD' }, { type: 'AUDIO' }] });
    const kids = answer.tracks.map((tr) => uuid(tr.keyId));
    for (const [i, kid] of kids.entries()) {
      const res = await request(t.app).get(`/keys/wv-shared/${kid}`).set('x-api-key', ADMIN_KEY).buffer(true);
      expect(res.status).toBe(200);
      expect(Buffer.from(res.body as Buffer)).toEqual(answer.tracks[i]?.key);
    }
    const built = buildCpixRequest({ speke: '1.0', resourceId: 'wv-shared', drms: ['widevine'], kids, keyCount: 2 });
    const speke = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', acmeEncoder)
      .set('Content-Type', 'application/xml')
      .send(built.xml);
    expect(speke.status).toBe(200);
    const keys = readCpixResponse(speke.text).keys;
    expect(kids.map((kid) => keys.find((k) => k.kid === kid)?.key)).toEqual(answer.tracks.map((tr) => tr.key));
    const audit = await request(t.app).get('/audit?resourceId=wv-shared').set('x-api-key', ADMIN_KEY);
    const issued = (audit.body.records as Array<Record<string, unknown>>).filter(
      (r) => r.action === 'issue' && r.principal === `widevine:${SIGNER.name}`,
    );
    expect(issued.map((r) => r.kid).sort()).toEqual(expect.arrayContaining([...kids].sort()));
    expect(issued.every((r) => r.tenant === 'acme' && r.route === 'POST /widevine/cenc')).toBe(true);
  });

  it('takes no lease: a SPEKE encoder may start on the resource right after', async () => {
    await ask('wv-nolease');
    const lease = await request(t.app).get('/leases/wv-nolease').set('x-api-key', ADMIN_KEY);
    expect(lease.status).toBe(404);
    const built = buildCpixRequest({ speke: '1.0', resourceId: 'wv-nolease', drms: ['widevine'] });
    const speke = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', acmeEncoder)
      .set('Content-Type', 'application/xml')
      .send(built.xml);
    expect(speke.status).toBe(200);
    expect((await ask('wv-nolease')).status).toBe('OK');
  });
});

describe('refusals never carry a key', () => {
  const refusedAlike = ['unsigned', 'unknown signer', 'wrong signature', 'signed by another signer’s name'];
  it.each(refusedAlike)('%s → HTTP 200, SIGNATURE_FAILED, no tracks, the same words for each', async (what) => {
    const req = cencRequest('wv-sig');
    const body =
      what === 'unsigned'
        ? signedBody(req)
        : what === 'unknown signer'
          ? signedBody(req, { ...SIGNER, name: 'nobody' })
          : what === 'wrong signature'
            ? signedBody(req, { ...SIGNER, iv: crypto.randomBytes(16) })
            : signedBody(req, { ...OTHER, name: SIGNER.name });
    const answer = await post(body);
    expect(answer.http).toBe(200);
    expect(answer.status).toBe('SIGNATURE_FAILED');
    expect(answer.statusMessage).toBe('The request is unsigned or its signature does not verify');
    expect(answer.tracks).toEqual([]);
    expect(JSON.parse(answer.raw)).toMatchObject({ status: 'SIGNATURE_FAILED' });
  });

  it('another tenant’s signer is refused the resource (ACCESS_DENIED), then the owner still gets its keys', async () => {
    const mine = await ask('wv-owned');
    const theirs = await ask('wv-owned', {}, OTHER);
    expect(theirs.status).toBe('ACCESS_DENIED');
    expect(theirs.tracks).toEqual([]);
    expect(theirs.statusMessage).toContain('wv-owned');
    expect((await ask('wv-owned')).tracks.map((tr) => tr.key)).toEqual(mine.tracks.map((tr) => tr.key));
  });

  it.each([
    [
      'an unknown track type',
      { tracks: [{ type: 'SD' }, { type: '8K' }] },
      'TRACK_TYPE_UNKNOWN',
      'Unknown track type "8K"',
    ],
    ['no tracks', { tracks: [] }, 'TRACK_TYPE_MISSING', 'tracks is empty'],
    [
      'a track type twice',
      { tracks: [{ type: 'SD' }, { type: 'SD' }] },
      'MALFORMED_REQUEST',
      'tracks lists a type twice',
    ],
    [
      'too many keys',
      { first_crypto_period_index: 0, crypto_period_count: 13 },
      'MALFORMED_REQUEST',
      'at most 60 keys',
    ],
    ['a huge period count', { crypto_period_count: 4294967295 }, 'MALFORMED_REQUEST', 'at most 60 keys'],
    ['zero periods', { crypto_period_count: 0 }, 'NO_REQUESTED_CRYPTO_PERIODS', 'crypto_period_count is 0'],
    ['no content_id', { content_id: undefined }, 'CONTENT_ID_MISSING', 'content_id is missing'],
    ['an asset_id', { content_id: undefined, asset_id: 7 }, 'CONTENT_ID_MISSING', 'asset_id'],
    ['pssh_data without a key_id', { content_id: undefined, pssh_data: 'CAE=' }, 'INVALID_WIDEVINE_PSSH', 'no key_id'],
    ['pssh_data cut short', { content_id: undefined, pssh_data: 'EhA=' }, 'INVALID_WIDEVINE_PSSH', 'past the end'],
    [
      'a content_id that is not UTF-8',
      { content_id: Buffer.from([0xff, 0xfe]).toString('base64') },
      'MALFORMED_REQUEST',
      'UTF-8',
    ],
    ['a content_id with a slash', { content_id: b64('a/b') }, 'MALFORMED_REQUEST', 'resource ID'],
    ['an unknown scheme', { protection_scheme: 'ABCD' }, 'MALFORMED_REQUEST', 'protection_scheme'],
    ['an unknown DRM type', { drm_types: ['FAIRPLAY'] }, 'MALFORMED_REQUEST', 'drm_types'],
  ])('%s → %s with what was wrong', async (_what, extra, status, message) => {
    const answer = await ask('wv-bad', extra);
    expect(answer.status).toBe(status);
    expect(answer.statusMessage).toContain(message);
    expect(answer.tracks).toEqual([]);
  });

  it.each([
    ['not JSON', '{"request": 4'],
    ['no request', '{"signer":"x"}'],
    ['request not base64', '{"request":"%%%"}'],
    ['nested 30,000 deep', `{"request":${'['.repeat(30000)}${']'.repeat(30000)}}`],
    ['a signed inner request nested 20,000 deep', signedRaw(Buffer.from('['.repeat(20000)))],
  ])('a body that is %s → MALFORMED_REQUEST', async (_what, body) => {
    const answer = await post(body);
    expect(answer.status).toBe('MALFORMED_REQUEST');
    expect(answer.tracks).toEqual([]);
  });

  it('a body over 64 KiB is a 413', async () => {
    const res = await request(t.app)
      .post('/widevine/cenc')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ request: 'A'.repeat(70 * 1024) }));
    expect(res.status).toBe(413);
  });

  it('a signed request body is never echoed, nor the signature', async () => {
    const body = signedBody(cencRequest('wv-sig'), { ...SIGNER, iv: crypto.randomBytes(16) });
    const { signature } = JSON.parse(body) as { signature: string };
    const answer = await post(body);
    expect(answer.raw).not.toContain(signature);
  });
});

describe('signature failures count as failed credentials', () => {
  it('past KEYPLANE_RATE_LIMIT_FAILED_AUTH per minute an address gets 429, good signatures never count', async () => {
    const limited = await makeTestApp({
      KEYPLANE_WIDEVINE_SIGNERS: `${SIGNER.name}:${hexOf(SIGNER)}:acme`,
      KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
      KEYPLANE_RATE_LIMIT_FAILED_AUTH: '3',
    });
    try {
      const send = (signer: AesSignerKey) =>
        request(limited.app)
          .post('/widevine/cenc')
          .set('Content-Type', 'application/json')
          .send(signedBody(cencRequest('wv-limit'), signer));
      for (let i = 0; i < 5; i++) expect((await send(SIGNER)).status).toBe(200);
      const wrong = { ...SIGNER, iv: crypto.randomBytes(16) };
      for (let i = 0; i < 3; i++) expect(readAnswer(200, (await send(wrong)).text).status).toBe('SIGNATURE_FAILED');
      const res = await send(wrong);
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBeDefined();
    } finally {
      await limited.close();
    }
  });
});

describe('pssh_data requests (Shaka Packager --enable_widevine_decryption)', () => {
  const byPssh = (data: Buffer, signer: AesSignerKey = SIGNER) =>
    post(signedBody({ pssh_data: data.toString('base64'), drm_types: ['WIDEVINE'] }, signer));

  it('answer the existing keys of the KIDs a Widevine pssh names, with their track types', async () => {
    const issued = await ask('wv-decrypt', { tracks: [{ type: 'HD' }, { type: 'AUDIO' }] });
    for (const track of issued.tracks) {
      const answer = await byPssh(track.pssh[0]?.data as Buffer);
      expect(answer.status).toBe('OK');
      expect(answer.tracks.map((t) => [t.type, t.keyId, t.key])).toEqual([[track.type, track.keyId, track.key]]);
      expect(answer.tracks[0]?.pssh[0]?.boxes).toBeDefined();
    }
  });

  it('answer SPEKE keys of the signer’s tenant too; unknown KIDs and other tenants’ get one ACCESS_DENIED', async () => {
    const built = buildCpixRequest({ speke: '1.0', resourceId: 'wv-speke-first', drms: ['widevine'] });
    const speke = await request(t.app)
      .post('/copyProtection')
      .set('x-api-key', acmeEncoder)
      .set('Content-Type', 'application/xml')
      .send(built.xml);
    const kid = readCpixResponse(speke.text).keys[0];
    const data = Buffer.concat([Buffer.from([0x12, 0x10]), Buffer.from((kid?.kid as string).replace(/-/g, ''), 'hex')]);
    const answer = await byPssh(data);
    expect(answer.status).toBe('OK');
    expect(answer.tracks.map((tr) => [tr.type, tr.key])).toEqual([['KEY1', kid?.key]]);
    const unknown = await byPssh(Buffer.concat([Buffer.from([0x12, 0x10]), crypto.randomBytes(16)]));
    const other = await byPssh(data, OTHER);
    expect([unknown.status, other.status]).toEqual(['ACCESS_DENIED', 'ACCESS_DENIED']);
    expect(other.statusMessage).toBe(unknown.statusMessage);
    expect([...unknown.tracks, ...other.tracks]).toEqual([]);
  });
});
