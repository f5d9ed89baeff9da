import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NS } from '../../src/cpix/namespaces';
import { drmField, responseKeys } from '../helpers/cpix';
import { decodeFrames, makeClearSource, packageHlsAes128, requireFfmpeg } from './ffmpeg';
import { createApiKey, startKeyplane, type KeyplaneProcess, type LogLine } from './keyplane-process';
import { startStaticServer, type StaticServer } from './static-server';

// Real compiled server + real ffmpeg: SPEKE v1 and static keys → ffmpeg's HLS AES-128 packager → ffmpeg's HLS
// demuxer reading the playlist over HTTP and fetching the key from Keyplane → frame hashes equal the clear source.

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';

let kp: KeyplaneProcess;
let cdn: StaticServer;
let work: string;
let www: string;
let secrets: string;
let source: string;
let clearFrames: string[];
let encoderKey: string;
let keyserverKey: string;

/** A SPEKE v1 request for one HLS AES-128 key, with placeholders as AWS encoders send them. */
function cpixRequest(resourceId: string, kid: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" ` +
    `xmlns:speke="urn:aws:amazon:com:speke">` +
    `<cpix:ContentKeyList><cpix:ContentKey kid="${kid}"></cpix:ContentKey></cpix:ContentKeyList>` +
    `<cpix:DRMSystemList><cpix:DRMSystem kid="${kid}" systemId="${HLS_AES128}">` +
    `<cpix:ContentProtectionData/><speke:KeyFormat/><speke:KeyFormatVersions/><speke:ProtectionHeader/>` +
    `<cpix:PSSH/><cpix:URIExtXKey/></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`
  );
}

async function requestSpekeKey(resourceId: string, kid: string): Promise<string> {
  const res = await fetch(`${kp.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: { 'x-api-key': encoderKey, 'content-type': 'application/xml' },
    body: cpixRequest(resourceId, kid),
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** AES-128-CBC decrypts a segment the way a player does and checks it is MPEG-TS (0x47 every 188 bytes). */
function looksLikeClearTs(segment: Buffer, key: Buffer, iv: Buffer): boolean {
  const decipher = crypto.createDecipheriv('aes-128-cbc', key, iv);
  const clear = Buffer.concat([decipher.update(segment), decipher.final()]);
  return clear.length % 188 === 0 && clear.every((byte, i) => i % 188 !== 0 || byte === 0x47);
}

/** Key requests in the server's access log with the given status (a 401 is answered before routing). */
const keyFetches = (logs: LogLine[], status: number) =>
  logs.filter(
    (l) =>
      l.msg === 'request' &&
      l.method === 'GET' &&
      l.status === status &&
      (status === 401 || l.route === '/keys/:resourceId/:kid'),
  ).length;

/** The server's log reaches us through a pipe, possibly just after ffmpeg exits: wait for it briefly. */
async function logCountAbove(status: number, before: number): Promise<number> {
  for (let i = 0; i < 100 && keyFetches(kp.logs, status) <= before; i++) await new Promise((r) => setTimeout(r, 20));
  return keyFetches(kp.logs, status);
}

/** Fails with ffmpeg's own error output when a playback did not succeed. */
function expectPlayed(played: { code: number | null; stderr: string; frames: string[] }): void {
  if (played.code !== 0) throw new Error(`ffmpeg could not play the stream (exit ${played.code}):\n${played.stderr}`);
  expect(played.frames).toEqual(clearFrames);
}

/** ffmpeg's `-headers` for the keyserver API key: it applies them to the playlist, segment and key requests. */
const keyserverHeaders = () => ({ 'x-api-key': keyserverKey });

beforeAll(async () => {
  requireFfmpeg();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-hls-e2e-'));
  www = path.join(work, 'www');
  secrets = path.join(work, 'secrets');
  fs.mkdirSync(www);
  source = path.join(work, 'clear.ts');
  kp = await startKeyplane(ADMIN_KEY);
  cdn = await startStaticServer(www);
  [encoderKey, keyserverKey] = await Promise.all([
    createApiKey(kp, 'e2e-encoder', ['encoder']),
    createApiKey(kp, 'e2e-keyserver', ['keyserver']),
  ]);
  await makeClearSource(source);
  const clear = await decodeFrames(source);
  expect(clear.code).toBe(0);
  clearFrames = clear.frames;
});

afterAll(async () => {
  await cdn?.close();
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('HLS AES-128 with real ffmpeg', () => {
  it('decodes the clear source to video and audio frames (sanity)', () => {
    expect(clearFrames.filter((f) => f.startsWith('0,'))).toHaveLength(100);
    expect(clearFrames.filter((f) => f.startsWith('1,')).length).toBeGreaterThan(100);
  });

  describe('SPEKE v1 key', () => {
    const resourceId = `e2e-speke-${crypto.randomUUID()}`;
    const kid = crypto.randomUUID();
    let key: Buffer;
    let iv: Buffer;
    let playlistUrl: string;

    beforeAll(async () => {
      const xml = await requestSpekeKey(resourceId, kid);
      const issued = responseKeys(xml).get(kid);
      key = issued?.key as Buffer;
      iv = issued?.iv as Buffer;
      const uri = drmField(xml, kid, NS.cpix, 'URIExtXKey') as string;
      expect(key).toHaveLength(16);
      expect(iv).toHaveLength(16);
      expect(uri).toBe(`${kp.baseUrl}/keys/${resourceId}/${kid}`);
      expect(drmField(xml, kid, NS.speke, 'KeyFormat')).toBe('identity');
      expect(drmField(xml, kid, NS.speke, 'KeyFormatVersions')).toBe('1');
      const playlist = await packageHlsAes128(
        source,
        path.join(www, 'speke'),
        { uri, key, ivHex: iv.toString('hex') },
        secrets,
      );
      playlistUrl = `${cdn.baseUrl}/speke/${path.basename(playlist)}`;
    });

    it('packages encrypted segments that name our key URL and IV in EXT-X-KEY', () => {
      const m3u8 = fs.readFileSync(path.join(www, 'speke/index.m3u8'), 'utf8');
      expect(m3u8).toContain(
        `#EXT-X-KEY:METHOD=AES-128,URI="${kp.baseUrl}/keys/${resourceId}/${kid}",IV=0x${iv.toString('hex')}`,
      );
      const segment = fs.readFileSync(path.join(www, 'speke/seg000.ts'));
      expect(segment[0] === 0x47 && segment[188] === 0x47).toBe(false);
      expect(looksLikeClearTs(segment, key, iv)).toBe(true);
    });

    it('plays through our key route: ffmpeg sends the x-api-key header with the key request; frames match', async () => {
      const before = keyFetches(kp.logs, 200);
      const played = await decodeFrames(playlistUrl, keyserverHeaders());
      expectPlayed(played);
      // The server's access log proves the key came from GET /keys/{resourceId}/{kid}, authenticated.
      expect(await logCountAbove(200, before)).toBeGreaterThan(before);
      expect(cdn.requests.some((r) => r.url.endsWith('.ts') && r.status === 200)).toBe(true);
    });

    it('cannot play without the keyserver credential: the key route answers 401', async () => {
      const before = keyFetches(kp.logs, 401);
      const played = await decodeFrames(playlistUrl);
      expect(played.code).not.toBe(0);
      expect(played.stderr).toMatch(/key/i);
      expect(await logCountAbove(401, before)).toBeGreaterThan(before);
    });

    it('does not decode with one wrong key byte in the served key', async () => {
      const tampered = Buffer.from(key);
      tampered[0] = (tampered[0] as number) ^ 0x01;
      fs.writeFileSync(path.join(www, 'speke/tampered.key'), tampered);
      const m3u8 = fs.readFileSync(path.join(www, 'speke/index.m3u8'), 'utf8');
      fs.writeFileSync(
        path.join(www, 'speke/tampered.m3u8'),
        m3u8.replace(`${kp.baseUrl}/keys/${resourceId}/${kid}`, `${cdn.baseUrl}/speke/tampered.key`),
      );
      const played = await decodeFrames(`${cdn.baseUrl}/speke/tampered.m3u8`);
      expect(cdn.requests.some((r) => r.url === '/speke/tampered.key' && r.status === 200)).toBe(true);
      expect(played.code !== 0 || JSON.stringify(played.frames) !== JSON.stringify(clearFrames)).toBe(true);
    });
  });

  describe('static key (POST /static-keys)', () => {
    const resourceId = `e2e-static-${crypto.randomUUID()}`;
    let body: Record<string, string>;

    beforeAll(async () => {
      const res = await fetch(`${kp.baseUrl}/static-keys`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId }),
      });
      expect(res.status).toBe(201);
      body = (await res.json()) as Record<string, string>;
    });

    it('returns what an encoder static key provider takes', () => {
      expect(body).toEqual({
        resourceId,
        kid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        StaticKeyValue: expect.stringMatching(/^[0-9a-f]{32}$/),
        Url: `${kp.baseUrl}/keys/${resourceId}/${body.kid}`,
        KeyFormat: 'identity',
        KeyFormatVersions: '1',
        ConstantInitializationVector: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
    });

    it('packages with the returned values and plays through our key route; frames match', async () => {
      const info = {
        uri: body.Url as string,
        key: Buffer.from(body.StaticKeyValue as string, 'hex'),
        ivHex: body.ConstantInitializationVector as string,
      };
      await packageHlsAes128(source, path.join(www, 'static'), info, secrets);
      const m3u8 = fs.readFileSync(path.join(www, 'static/index.m3u8'), 'utf8');
      expect(m3u8).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="${body.Url}",IV=0x${body.ConstantInitializationVector}`);
      const before = keyFetches(kp.logs, 200);
      const played = await decodeFrames(`${cdn.baseUrl}/static/index.m3u8`, keyserverHeaders());
      expectPlayed(played);
      expect(await logCountAbove(200, before)).toBeGreaterThan(before);
    });
  });
});
