import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WidevineClient, type AesSignerKey, type WidevineTrack } from '../../src/cli/widevine-client';
import { bytesToUuid } from '../../src/drm/pssh';
import { launchChromium, playbackState, playsPast, startPlayback, startPlayerSite } from './eme-player';
import { ffmpegOk, parseFrameMd5, requireFfmpeg } from './ffmpeg';
import { startKeyplane, type KeyplaneProcess } from './keyplane-process';
import { initPsshBoxes, trackProtection } from './mp4-boxes';
import { joinSegments, makeClearMp4, PACKAGER, requirePackager, runPackager } from './shaka-packager';

// Real compiled server, real Shaka Packager, real browser: the packager fetches its keys from POST /widevine/cenc
// (--enable_widevine_encryption, AES-signed), for cenc and cbcs, with and without key rotation; the KIDs in its
// output are the ones Keyplane answers for the content ID; the output decrypts with the keys GET /keys serves
// (packets equal the clear source's); cenc plays in Chromium through EME Clear Key; a wrongly signed packager
// gets no key and fails.

jest.setTimeout(60_000);

const ADMIN_KEY = `e2e-admin-${crypto.randomBytes(12).toString('hex')}`;
const SIGNER: AesSignerKey = { name: 'shaka', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const STREAMS = ['video', 'audio'] as const;
type Stream = (typeof STREAMS)[number];
const LABEL: Record<Stream, 'SD' | 'AUDIO'> = { video: 'SD', audio: 'AUDIO' };

interface Case {
  name: string;
  scheme: 'cenc' | 'cbcs';
  rotation: boolean;
}
const CASES: Case[] = [
  { name: 'cenc', scheme: 'cenc', rotation: false },
  { name: 'cbcs', scheme: 'cbcs', rotation: false },
  { name: 'cenc-rotation', scheme: 'cenc', rotation: true },
  { name: 'cbcs-rotation', scheme: 'cbcs', rotation: true },
];

let kp: KeyplaneProcess;
let work: string;
let source: string;
let api: WidevineClient;
let rsaPrivate: string;
const clearPackets = {} as Record<Stream, string[]>;

const resourceOf = (c: Case) => `wv-e2e-${c.name}-${work.slice(-6).replace(/[^A-Za-z0-9]/g, 'x')}`;

/** The packager's command line against Keyplane, as the README gives it. */
/** `--signer` with an AES signing key and IV. */
const aesFlags = (signer: AesSignerKey) => [
  ...['--signer', signer.name],
  ...['--aes_signing_key', signer.key.toString('hex')],
  ...['--aes_signing_iv', signer.iv.toString('hex')],
];

function packagerArgs(c: Case, dir: string, signing: string[] = aesFlags(SIGNER)): string[] {
  const streams = STREAMS.map(
    (s) => `in=${source},stream=${s},init_segment=${dir}/${s}/init.mp4,segment_template=${dir}/${s}/$Number$.m4s`,
  );
  return [
    ...streams,
    '--enable_widevine_encryption',
    ...['--key_server_url', `${kp.baseUrl}/widevine/cenc`],
    ...['--content_id', Buffer.from(resourceOf(c), 'utf8').toString('hex')],
    ...signing,
    ...['--protection_scheme', c.scheme],
    // Rotation: Widevine pssh only (the Common PSSH would list every KID of a 10-period batch).
    ...['--protection_systems', c.rotation ? 'Widevine' : 'Widevine,CommonSystem'],
    ...(c.rotation ? ['--crypto_period_duration', '2'] : []),
    ...['--clear_lead', '0', '--segment_duration', '2', '--generate_static_live_mpd'],
    ...['--mpd_output', `${dir}/manifest.mpd`],
  ];
}

/** Per-frame MD5s of the compressed packets of one stream. */
async function packets(file: string, stream: Stream): Promise<string[]> {
  const map = stream === 'video' ? '0:v:0' : '0:a:0';
  return parseFrameMd5((await ffmpegOk(['-i', file, '-map', map, '-c', 'copy', '-f', 'framemd5', '-'])).stdout);
}

/** What Keyplane answers for the case's content ID (the same KIDs and keys the packager got). */
async function keyplaneTracks(c: Case): Promise<WidevineTrack[]> {
  const answer = await api.post({
    content_id: Buffer.from(resourceOf(c), 'utf8').toString('base64'),
    tracks: [{ type: 'SD' }, { type: 'HD' }, { type: 'UHD1' }, { type: 'UHD2' }, { type: 'AUDIO' }],
    drm_types: ['WIDEVINE'],
    protection_scheme: c.scheme.toUpperCase(),
    ...(c.rotation ? { first_crypto_period_index: 0, crypto_period_count: 10 } : {}),
  });
  if (answer.status !== 'OK') throw new Error(`Keyplane answered ${answer.status}: ${answer.statusMessage}`);
  return answer.tracks;
}

/**
 * cbcs under rotation: each fragment's seig group carries its period's 16-byte constant IV after the KID
 * (`Per_Sample_IV_Size` 0, KID, size 16, IV), while the init's tenc holds an 8-byte placeholder. For one-segment
 * decryption the init copy's tenc gets the segment's IV (the tenc and its ancestors grow by 8 bytes; a fragmented
 * init has no chunk offsets to fix). cenc (per-sample IVs in senc) needs nothing.
 */
function withSegmentIv(init: Buffer, seg: Buffer, kid: Buffer | undefined): Buffer {
  if (!trackProtection(init).constantIv || !kid) return init;
  let iv: Buffer | undefined;
  for (let at = seg.indexOf(kid); at > 0 && !iv; at = seg.indexOf(kid, at + 1)) {
    if (seg[at - 1] === 0 && seg[at + 16] === 16) iv = seg.subarray(at + 17, at + 33);
  }
  if (!iv) throw new Error('no seig entry with a constant IV for the segment KID');
  const tenc = init.indexOf('tenc') - 4;
  const end = tenc + init.readUInt32BE(tenc);
  const ivSizeAt = tenc + 8 + 4 + 4 + 16;
  const grown = Buffer.concat([init.subarray(0, ivSizeAt), Buffer.from([16]), iv, init.subarray(end)]);
  const delta = grown.length - init.length;
  for (const type of ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd', 'encv', 'enca', 'sinf', 'schi', 'tenc']) {
    for (let at = init.indexOf(type); at >= 4; at = init.indexOf(type, at + 1)) {
      const size = init.readUInt32BE(at - 4);
      if (at - 4 <= tenc && tenc < at - 4 + size) grown.writeUInt32BE(size + delta, at - 4);
    }
  }
  return grown;
}

const mediaSegments = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => /^\d+\.m4s$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((f) => fs.readFileSync(path.join(dir, f)));

async function servedKey(resourceId: string, kid: string): Promise<Buffer> {
  const res = await fetch(`${kp.baseUrl}/keys/${resourceId}/${kid}`, { headers: { 'x-api-key': ADMIN_KEY } });
  if (res.status !== 200) throw new Error(`GET /keys/${resourceId}/${kid} answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

beforeAll(async () => {
  requireFfmpeg();
  await requirePackager();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-wv-e2e-'));
  source = path.join(work, 'clear.mp4');
  const pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsaPrivate = path.join(work, 'signer-private.der');
  const rsaPublic = path.join(work, 'signer-public.pem');
  // DER: the packager hands the file's bytes to mbedtls without the NUL a PEM parse needs.
  fs.writeFileSync(rsaPrivate, pair.privateKey.export({ type: 'pkcs1', format: 'der' }));
  fs.writeFileSync(rsaPublic, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const [server] = await Promise.all([
    startKeyplane(ADMIN_KEY, {
      KEYPLANE_WIDEVINE_RSA_SIGNERS: `shaka-rsa:${rsaPublic}:studio`,
      KEYPLANE_WIDEVINE_SIGNERS: `${SIGNER.name}:${SIGNER.key.toString('hex')}:${SIGNER.iv.toString('hex')}:studio`,
      KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
    }),
    makeClearMp4(source, 6),
  ]);
  kp = server;
  api = new WidevineClient(`${kp.baseUrl}/widevine/cenc`, SIGNER);
  for (const s of STREAMS) clearPackets[s] = await packets(source, s);
  await Promise.all(CASES.map((c) => runPackager(packagerArgs(c, path.join(work, 'www', c.name)))));
});

afterAll(async () => {
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.each(CASES)('Shaka Packager --enable_widevine_encryption against Keyplane: $name', (c) => {
  const dir = () => path.join(work, 'www', c.name);

  it.each(STREAMS)('the %s output uses the KIDs and Widevine pssh Keyplane answers for the content ID', async (s) => {
    const tracks = (await keyplaneTracks(c)).filter((t) => t.type === LABEL[s]);
    const init = fs.readFileSync(path.join(dir(), s, 'init.mp4'));
    const protection = trackProtection(init);
    expect(protection.scheme).toBe(c.scheme);
    if (!c.rotation) {
      expect(tracks).toHaveLength(1);
      expect(protection.defaultKid).toBe(bytesToUuid(tracks[0]?.keyId as Buffer));
      const boxes = initPsshBoxes(init).map((b) => b.toString('hex'));
      expect(boxes).toContain((tracks[0]?.pssh[0]?.boxes as Buffer).toString('hex'));
      return;
    }
    // Rotation: each 2 s segment carries the KID (and Widevine pssh) of its own crypto period.
    const used = mediaSegments(path.join(dir(), s)).map((seg) =>
      tracks.filter((t) => seg.includes(t.keyId)).map((t) => t.cryptoPeriodIndex),
    );
    expect(used).toHaveLength(3);
    for (const periods of used) expect(periods).toHaveLength(1);
    expect(new Set(used.flat()).size).toBe(3);
  });

  it.each(STREAMS)(
    'the %s stream decrypts with the keys GET /keys serves: packets equal the clear source',
    async (s) => {
      const streamDir = path.join(dir(), s);
      const init = fs.readFileSync(path.join(streamDir, 'init.mp4'));
      const tracks = (await keyplaneTracks(c)).filter((t) => t.type === LABEL[s]);
      // Shaka Packager's decryptor reads only tenc's default KID (all zeros under rotation, where each fragment
      // names its period's KID in a seig group), so a rotated stream is decrypted one segment at a time.
      const parts = c.rotation
        ? mediaSegments(streamDir).map((seg, i) => {
            const file = path.join(work, `${c.name}-${s}-${i}-enc.mp4`);
            const track = tracks.find((t) => seg.includes(t.keyId));
            fs.writeFileSync(file, Buffer.concat([withSegmentIv(init, seg, track?.keyId), seg]));
            return { file, track, tencKid: '0'.repeat(32) };
          })
        : [
            {
              file: joinSegments(streamDir, path.join(work, `${c.name}-${s}-enc.mp4`)),
              track: tracks.find((t) => bytesToUuid(t.keyId) === trackProtection(init).defaultKid),
              tencKid: undefined,
            },
          ];
      expect(parts).toHaveLength(c.rotation ? 3 : 1);
      const decrypted = await Promise.all(
        parts.map(async (part, i) => {
          const track = part.track as WidevineTrack;
          const key = await servedKey(resourceOf(c), bytesToUuid(track.keyId));
          expect(key).toEqual(track.key);
          expect(await packets(part.file, s)).not.toEqual(clearPackets[s]);
          const out = path.join(work, `${c.name}-${s}-${i}-dec.mp4`);
          const kid = part.tencKid ?? track.keyId.toString('hex');
          await runPackager([
            `in=${part.file},stream=${s},output=${out}`,
            '--enable_raw_key_decryption',
            ...['--keys', `label=k:key_id=${kid}:key=${key.toString('hex')}`],
          ]);
          return packets(out, s);
        }),
      );
      expect(decrypted.flat()).toEqual(clearPackets[s]);
    },
  );
});

/** Adds Keyplane's Clear Key license URL to each AdaptationSet (Shaka Packager signals no Clear Key system). */
function withClearKeyLicenseUrl(mpd: string): string {
  const cp =
    '<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0">' +
    `<clearkey:Laurl xmlns:clearkey="http://dashif.org/guidelines/clearKey" Lic_type="EME-1.0">${kp.baseUrl}/clearkey/license</clearkey:Laurl>` +
    '</ContentProtection>';
  return mpd.replace(/(<AdaptationSet[^>]*>)/g, `$1${cp}`);
}

it('headless Chromium plays the cenc output through EME Clear Key, its licenses from Keyplane', async () => {
  const c = CASES[0] as Case;
  const mpd = path.join(work, 'www', c.name, 'manifest.mpd');
  fs.writeFileSync(mpd, withClearKeyLicenseUrl(fs.readFileSync(mpd, 'utf8')));
  const res = await fetch(`${kp.baseUrl}/playback-tokens`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: resourceOf(c), ttlSeconds: 120 }),
  });
  expect(res.status).toBe(201);
  const { token } = (await res.json()) as { token: string };
  const [browser, site] = await Promise.all([launchChromium(), startPlayerSite(path.join(work, 'www'))]);
  try {
    const page = await startPlayback(browser, site, `${site.baseUrl}/${c.name}/manifest.mpd`, {
      Authorization: `Bearer ${token}`,
    });
    const played = await playsPast(page, 2, 15_000);
    const state = await playbackState(page);
    if (!played) throw new Error(`did not play: ${JSON.stringify(state, null, 2)}`);
    expect(state.errors).toEqual([]);
    expect(state.licenses.length).toBeGreaterThan(0);
    expect(state.licenses.every((status) => status === 200)).toBe(true);
    expect(state.decodedFrames).toBeGreaterThan(25);
  } finally {
    await browser.close();
    await site.close();
  }
});

it('a packager with the wrong signing key gets no key from Keyplane and fails', async () => {
  const c: Case = { name: 'wrong-signer', scheme: 'cenc', rotation: false };
  const dir = path.join(work, 'www', c.name);
  const wrong = { ...SIGNER, key: crypto.randomBytes(32) };
  const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(PACKAGER, packagerArgs(c, dir, aesFlags(wrong)), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out: Buffer.concat(out).toString('utf8') }));
  });
  expect(result.code).not.toBe(0);
  expect(result.out).toContain('SIGNATURE_FAILED');
  expect(fs.existsSync(path.join(dir, 'video', '1.m4s'))).toBe(false);
  // Nothing was issued for the content ID: the signer that owns it finds no key there yet.
  const audit = await fetch(`${kp.baseUrl}/audit?resourceId=${resourceOf(c)}`, { headers: { 'x-api-key': ADMIN_KEY } });
  expect(((await audit.json()) as { records: unknown[] }).records).toEqual([]);
});

it('a packager signing with RSA (--rsa_signing_key_path, RSASSA-PSS) gets the same keys for the same content', async () => {
  const c = CASES[0] as Case;
  const dir = path.join(work, 'rsa');
  await runPackager(packagerArgs(c, dir, ['--signer', 'shaka-rsa', '--rsa_signing_key_path', rsaPrivate]));
  for (const s of STREAMS) {
    const rsaInit = fs.readFileSync(path.join(dir, s, 'init.mp4'));
    const aesInit = fs.readFileSync(path.join(work, 'www', c.name, s, 'init.mp4'));
    expect(trackProtection(rsaInit).defaultKid).toBe(trackProtection(aesInit).defaultKid);
  }
});

it.each(STREAMS)(
  'Shaka Packager decrypts the cenc %s stream with --enable_widevine_decryption against Keyplane (pssh_data)',
  async (s) => {
    const c = CASES[0] as Case;
    const encrypted = joinSegments(path.join(work, 'www', c.name, s), path.join(work, `wvdec-${s}-enc.mp4`));
    const decrypted = path.join(work, `wvdec-${s}-dec.mp4`);
    await runPackager([
      `in=${encrypted},stream=${s},output=${decrypted}`,
      '--enable_widevine_decryption',
      ...['--key_server_url', `${kp.baseUrl}/widevine/cenc`],
      ...aesFlags(SIGNER),
    ]);
    expect(await packets(decrypted, s)).toEqual(clearPackets[s]);
  },
);
