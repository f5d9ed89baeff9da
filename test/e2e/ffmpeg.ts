import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** What one ffmpeg run left behind. */
export interface FfmpegResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Throws a clear error when ffmpeg is not on PATH (CI installs it; the e2e tests never skip). */
export function requireFfmpeg(): void {
  const probe = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'ffmpeg is required by the HLS AES-128 end-to-end test but was not found on PATH ' +
        '(install it, e.g. `apt-get install -y --no-install-recommends ffmpeg`).',
    );
  }
}

/** The codecs for the clear test video: H.264/AAC when this ffmpeg has them, else MPEG-2/MP2. */
export function pickCodecs(): string[] {
  const list = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout ?? '';
  const has = (name: string) => new RegExp(`^\\s*\\S+\\s+${name}\\s`, 'm').test(list);
  if (has('libx264') && has('aac')) {
    return ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k'];
  }
  return ['-c:v', 'mpeg2video', '-q:v', '4', '-c:a', 'mp2', '-b:a', '96k'];
}

/** Runs ffmpeg with the given arguments and collects its output. */
export function ffmpeg(args: string[]): Promise<FfmpegResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

/** Runs ffmpeg and throws with its stderr unless it exits 0. */
export async function ffmpegOk(args: string[]): Promise<FfmpegResult> {
  const result = await ffmpeg(args);
  if (result.code !== 0) throw new Error(`ffmpeg ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
  return result;
}

/** Encodes a 4-second clear test video (test pattern plus a sine tone) to MPEG-TS. */
export async function makeClearSource(file: string): Promise<void> {
  await ffmpegOk([
    ...['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...['-t', '4', '-g', '25', ...pickCodecs(), '-f', 'mpegts', file],
  ]);
}

/** Where to find the 16 key bytes and IV for the ffmpeg hls muxer, and which URI goes into EXT-X-KEY. */
export interface HlsKeyInfo {
  uri: string;
  key: Buffer;
  ivHex: string;
}

/**
 * Packages `source` to HLS AES-128 TS segments (1 s) in `dir` using a key-info file; returns the playlist path.
 * The key file and key-info file go to `secretsDir`, which must not be served to players.
 */
export async function packageHlsAes128(
  source: string,
  dir: string,
  info: HlsKeyInfo,
  secretsDir: string,
): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(secretsDir, { recursive: true });
  const keyFile = path.join(secretsDir, `${path.basename(dir)}.key`);
  const keyInfoFile = path.join(secretsDir, `${path.basename(dir)}.keyinfo`);
  fs.writeFileSync(keyFile, info.key);
  fs.writeFileSync(keyInfoFile, `${info.uri}\n${keyFile}\n${info.ivHex}\n`);
  const playlist = path.join(dir, 'index.m3u8');
  await ffmpegOk([
    ...['-i', source, '-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod'],
    ...['-hls_key_info_file', keyInfoFile, '-hls_segment_filename', path.join(dir, 'seg%03d.ts'), playlist],
  ]);
  return playlist;
}

/** Per-frame decoded hashes of an input, as `stream,size,md5` lines (timestamps left out). */
export function parseFrameMd5(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split(',').map((field) => field.trim()))
    .map((f) => `${f[0]},${f[4]},${f[5]}`);
}

/** Decodes an input (file or URL) to per-frame MD5s; `headers` become ffmpeg's HTTP `-headers`. */
export async function decodeFrames(
  input: string,
  headers?: Record<string, string>,
): Promise<FfmpegResult & { frames: string[] }> {
  const headerArgs = headers
    ? [
        '-headers',
        Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join(''),
      ]
    : [];
  const result = await ffmpeg([...headerArgs, '-i', input, '-f', 'framemd5', '-']);
  return { ...result, frames: result.code === 0 ? parseFrameMd5(result.stdout) : [] };
}
