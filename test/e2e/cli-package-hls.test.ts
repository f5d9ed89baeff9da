import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ffmpegOk, pickCodecs, requireFfmpeg } from './ffmpeg';
import { runCli, runCliJson, serveKeyplane, type ServeProcess } from './cli-process';

// `keyplane package-hls` with the system's ffmpeg: a 2-second test clip becomes an encrypted HLS rendition whose
// EXT-X-KEY points at Keyplane; decrypting the segments with the key Keyplane delivers gives back the same video frames.

const ADMIN_KEY = `hls-admin-${crypto.randomBytes(12).toString('hex')}`;

let kp: ServeProcess;
let work: string;
let clip: string;
let encoder: Record<string, string>;

/** Video frame hashes of a media file (ffmpeg framemd5, video stream only). */
async function videoFrames(file: string): Promise<string[]> {
  const out = await ffmpegOk(['-i', file, '-map', '0:v', '-f', 'framemd5', '-']);
  return out.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(',').pop()?.trim() as string);
}

beforeAll(async () => {
  requireFfmpeg();
  kp = await serveKeyplane(ADMIN_KEY);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cli-hls-'));
  const codecs = pickCodecs();
  clip = path.join(work, codecs.includes('libx264') ? 'clip.mp4' : 'clip.ts');
  await ffmpegOk([
    ...[
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
    ],
    ...['-t', '2', '-g', '25', ...codecs, clip],
  ]);
  const { key } = await runCliJson<{ key: string }>(['api-key', 'create', '--name', 'packager', '--roles', 'encoder'], {
    KEYPLANE_URL: kp.url,
    KEYPLANE_API_KEY: ADMIN_KEY,
  });
  encoder = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: key };
});

afterAll(async () => {
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it('packages a clip to HLS AES-128 with EXT-X-KEY at Keyplane; the delivered key decrypts it to the same frames', async () => {
  const out = path.join(work, 'www', 'clip-1');
  const summary = await runCliJson<{ playlist: string; segments: number; kid: string; keyUrl: string }>(
    ['package-hls', '--input', clip, '--resource-id', 'clip-1', '--out', out, '--segment-seconds', '1'],
    encoder,
  );
  expect(summary.keyUrl).toBe(`${kp.url}/keys/clip-1/${summary.kid}`);
  expect(summary.segments).toBeGreaterThanOrEqual(2);
  const playlist = fs.readFileSync(path.join(out, 'index.m3u8'), 'utf8');
  const keyLine = /^#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)",IV=0x([0-9a-fA-F]{32})$/m.exec(playlist);
  expect(keyLine?.[1]).toBe(summary.keyUrl);
  // Only the playlist and segments are written next to each other; the key file never is.
  expect(fs.readdirSync(out).every((f) => f === 'index.m3u8' || /^segment\d+\.ts$/.test(f))).toBe(true);

  const res = await fetch(summary.keyUrl, { headers: { 'x-api-key': ADMIN_KEY } });
  const key = Buffer.from(await res.arrayBuffer());
  const segments = playlist.split('\n').filter((l) => l.endsWith('.ts'));
  const clear = segments.map((s) => {
    const decipher = crypto.createDecipheriv('aes-128-cbc', key, Buffer.from(keyLine?.[2] as string, 'hex'));
    return Buffer.concat([decipher.update(fs.readFileSync(path.join(out, s))), decipher.final()]);
  });
  const decrypted = path.join(work, 'decrypted.ts');
  fs.writeFileSync(decrypted, Buffer.concat(clear));
  expect(await videoFrames(decrypted)).toEqual(await videoFrames(clip));
  const encrypted = fs.readFileSync(path.join(out, segments[0] as string));
  const looksLikeTs = (b: Buffer) => b.length % 188 === 0 && b.every((byte, i) => i % 188 !== 0 || byte === 0x47);
  expect([looksLikeTs(encrypted), looksLikeTs(clear[0] as Buffer)]).toEqual([false, true]);
});

it('explains how to install ffmpeg when it is not on PATH, before asking for a key', async () => {
  const emptyPath = fs.mkdtempSync(path.join(work, 'path-'));
  const run = await runCli(
    [
      'package-hls',
      '--input',
      clip,
      '--resource-id',
      'clip-2',
      '--out',
      path.join(work, 'x'),
      '--url',
      'http://127.0.0.1:9',
    ],
    { PATH: emptyPath },
  );
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('ffmpeg was not found or does not run ("ffmpeg": ENOENT)');
  expect(run.stderr).toContain('apt-get install ffmpeg');
  expect(fs.existsSync(path.join(work, 'x'))).toBe(false);
});

it('exits 2 when the input does not exist', async () => {
  const run = await runCli(['package-hls', '--input', '/no/such.mp4', '--resource-id', 'r', '--out', work], encoder);
  expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('--input /no/such.mp4: no such file')]);
});

/** GET /leases/{id} as the admin: 200 while a lease is held, 404 when there is none. */
async function leaseStatus(resourceId: string): Promise<number> {
  const res = await fetch(`${kp.url}/leases/${resourceId}`, { headers: { 'x-api-key': ADMIN_KEY } });
  await res.arrayBuffer();
  return res.status;
}

it('checks --input with ffprobe before asking for a key: no lease is taken for bad input', async () => {
  const text = path.join(work, 'notes.mp4');
  fs.writeFileSync(text, 'not a video\n');
  const audio = path.join(work, 'tone.wav');
  await ffmpegOk(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000', '-t', '1', audio]);
  const args = (input: string, id: string) => ['package-hls', '--input', input, '--resource-id', id, '--out', work];
  const garbage = await runCli(args(text, 'probe-1'), encoder);
  expect([garbage.code, garbage.stderr]).toEqual([2, expect.stringContaining(`--input ${text}: not media ffprobe`)]);
  const noVideo = await runCli(args(audio, 'probe-2'), encoder);
  expect([noVideo.code, noVideo.stderr]).toEqual([2, expect.stringContaining('has no video stream')]);
  expect([await leaseStatus('probe-1'), await leaseStatus('probe-2')]).toEqual([404, 404]);
});

it('--reencode forces keyframes at --segment-seconds and shows progress on stderr (not with --json)', async () => {
  const longGop = path.join(work, 'long-gop.ts');
  await ffmpegOk([
    ...['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '3', '-g', '250'],
    ...['-c:v', 'mpeg2video', longGop],
  ]);
  const out = path.join(work, 'www', 'gop');
  const run = await runCli(
    ['package-hls', '--input', longGop, '--resource-id', 'gop-1', '--out', out, '--segment-seconds', '1', '--reencode'],
    encoder,
  );
  expect(run.code).toBe(0);
  expect(run.stderr).toContain('packaging: 100%');
  const durations = [...fs.readFileSync(path.join(out, 'index.m3u8'), 'utf8').matchAll(/#EXTINF:([\d.]+)/g)];
  expect(durations.map((m) => Math.round(Number(m[1])))).toEqual([1, 1, 1]);
  const quiet = await runCli(
    ['package-hls', '--input', longGop, '--resource-id', 'gop-2', '--out', `${out}-2`, '--json'],
    encoder,
  );
  expect([quiet.code, quiet.stderr]).toEqual([0, '']);
});

describe('when packaging fails after the key was issued', () => {
  let broken: string;
  beforeAll(() => {
    // Answers the version check like ffmpeg, then fails the packaging run.
    broken = path.join(work, 'broken-ffmpeg');
    fs.writeFileSync(
      broken,
      '#!/bin/sh\n[ "$2" = "-version" ] && exec ffmpeg "$@"\necho simulated failure >&2\nexit 1\n',
    );
    fs.chmodSync(broken, 0o755);
  });
  const args = (id: string, extra: string[] = []) => [
    ...['package-hls', '--input', clip, '--resource-id', id, '--out', path.join(work, 'www', id), ...extra],
  ];

  it('the encoder key releases its own lease, and --kid packages again with the same key', async () => {
    const failed = await runCli(args('fail-1', ['--ffmpeg', broken]), encoder);
    expect([failed.code, failed.stderr]).toEqual([1, expect.stringContaining('simulated failure')]);
    expect(failed.stderr).toContain('The lease on "fail-1" was released (the key stays)');
    const kid = /rerun with --kid ([0-9a-f-]{36})/.exec(failed.stderr)?.[1] as string;
    expect(await leaseStatus('fail-1')).toBe(404);
    const again = await runCliJson<{ kid: string }>(args('fail-1', ['--kid', kid]), encoder);
    expect(again.kid).toBe(kid);
  });

  it('an admin key releases the lease', async () => {
    const admin = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: ADMIN_KEY };
    const failed = await runCli(args('fail-2', ['--ffmpeg', broken]), admin);
    expect([failed.code, failed.stderr]).toEqual([1, expect.stringContaining('The lease on "fail-2" was released')]);
    expect(await leaseStatus('fail-2')).toBe(404);
  });
});
