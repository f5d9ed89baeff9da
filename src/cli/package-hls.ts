/**
 * `keyplane package-hls`: the common HLS AES-128 workflow in one command. Requests a key over
 * SPEKE v1, then runs the system's ffmpeg to write an encrypted HLS rendition whose EXT-X-KEY
 * points at the key provider's key URL. The key file ffmpeg needs lives in a private temp dir
 * and is deleted afterwards; it is never written next to the segments.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { CommandFailedError, EXIT_CODES_HELP, InvalidResponseError, UsageError } from './cli-errors';
import { addClientOptions, clientFrom } from './client-options';
import { intOption, kidOption, resourceIdOption } from './cli-input';
import { buildCpixRequest } from './cpix-request-builder';
import { readCpixResponse } from './cpix-response-reader';
import { serverMessage } from './http-client';
import { note, print, printJson, renderFields } from './output';
import { FfmpegProgress } from './ffmpeg-progress';
import { withLeaseReleased } from './lease-release';
import { ffprobeBeside, probeInput } from './media-probe';
import { SpekeClient, addSpekePathOption } from './speke-client';

interface PackageOptions {
  input: string;
  resourceId: string;
  out: string;
  kid?: string;
  segmentSeconds: string;
  ffmpeg: string;
  ffprobe?: string;
  reencode?: boolean;
  json?: boolean;
  spekePath: string;
}

/** The key, IV and URL of one HLS AES-128 key. */
interface HlsKey {
  kid: string;
  key: Buffer;
  iv?: Buffer;
  url: string;
}

/** A URL fit for a key-info file and an EXT-X-KEY URI: absolute http(s), no quote, no control character. */
export function isKeyUrl(url: string): boolean {
  if ([...url].some((c) => c === '"' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  try {
    return ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/** Fails with install instructions when ffmpeg cannot be run. */
export function requireFfmpeg(ffmpeg: string): void {
  const probe = spawnSync(ffmpeg, ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new CommandFailedError(
      `ffmpeg was not found or does not run ("${ffmpeg}"${probe.error ? `: ${(probe.error as NodeJS.ErrnoException).code}` : ''}). ` +
        'Install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or pass --ffmpeg /path/to/ffmpeg.',
    );
  }
}

async function requestHlsKey(cmd: Command, opts: PackageOptions): Promise<HlsKey> {
  const speke = new SpekeClient(clientFrom(cmd), opts.spekePath);
  const request = buildCpixRequest({
    speke: '1.0',
    resourceId: opts.resourceId,
    drms: ['hls-aes128'],
    newKid: opts.kid === undefined ? undefined : () => (opts.kid as string).toLowerCase(),
  });
  const result = await speke.post(request.xml);
  if (result.status !== 200)
    throw new CommandFailedError(`the key request failed with HTTP ${result.status}: ${serverMessage(result)}`);
  const response = readCpixResponse(result.text);
  const kid = request.keys[0]?.kid as string;
  const key = response.keys.find((k) => k.kid === kid);
  const url = response.drmSystems.find((d) => d.kid === kid)?.uriExtXKey;
  if (!key?.key || key.key.length !== 16)
    throw new InvalidResponseError(`the response has no 16-byte key for KID ${kid}`);
  if (!url) throw new InvalidResponseError(`the response has no URIExtXKey (key URL) for KID ${kid}`);
  // It becomes a line of ffmpeg's key-info file and a quoted URI in the playlist: a line break there would
  // name another key file, a quote another attribute.
  if (!isKeyUrl(url)) {
    throw new InvalidResponseError(`the URIExtXKey of KID ${kid} is not an http(s) URL without quotes or line breaks`);
  }
  return { kid, key: key.key, iv: key.iv?.length === 16 ? key.iv : undefined, url };
}

/**
 * The ffmpeg arguments that package `input` into `out` with the given key-info file. Re-encoding
 * forces a keyframe every `segmentSeconds` so segments start where `--segment-seconds` says;
 * `-progress pipe:1` reports progress on stdout.
 */
function ffmpegArgs(
  input: string,
  out: string,
  keyInfoFile: string,
  segmentSeconds: number,
  reencode: boolean,
): string[] {
  const keyframes = ['-force_key_frames', `expr:gte(t,n_forced*${segmentSeconds})`];
  const codecs = reencode ? ['-c:v', 'libx264', '-preset', 'veryfast', ...keyframes, '-c:a', 'aac'] : ['-c', 'copy'];
  return [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', '-nostats', '-y', '-i', input],
    ...codecs,
    ...['-f', 'hls', '-hls_time', String(segmentSeconds), '-hls_playlist_type', 'vod'],
    ...['-hls_key_info_file', keyInfoFile, '-hls_segment_filename', path.join(out, 'segment%05d.ts')],
    path.join(out, 'index.m3u8'),
  ];
}

function runFfmpeg(
  ffmpeg: string,
  args: string[],
  progress: FfmpegProgress,
  started: (child: ChildProcess) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started(child);
    child.stdout.on('data', (d: Buffer) => progress.push(d));
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', (e) => reject(new CommandFailedError(`cannot run ffmpeg: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) return resolve();
      const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-5).join('\n');
      reject(
        new CommandFailedError(
          `ffmpeg exited with ${code}:\n${tail}\n(with copied codecs the input must suit MPEG-TS; try --reencode)`,
        ),
      );
    });
  });
}

/**
 * Runs `cleanup` and exits (130 / 143) on SIGINT or SIGTERM while work is under way; returns the
 * function that removes the handlers. Without it Ctrl-C would leave the plain key on disk.
 */
function onInterrupt(cleanup: () => void): () => void {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      cleanup();
      process.stderr.write(`keyplane: ${signal}: stopped ffmpeg and deleted the key files\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => handlers.forEach(([signal, handler]) => process.off(signal, handler));
}

/** Writes key and key-info files to a private temp dir, runs ffmpeg, and always deletes the key. */
async function packageWithKey(
  opts: PackageOptions,
  key: HlsKey,
  segmentSeconds: number,
  progress: FfmpegProgress,
): Promise<void> {
  const secrets = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-hls-'));
  let child: ChildProcess | undefined;
  // Every exit path (success, error, SIGINT, SIGTERM) kills ffmpeg if it still runs and deletes the key.
  const cleanup = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(secrets, { recursive: true, force: true });
  };
  const release = onInterrupt(cleanup);
  try {
    const keyFile = path.join(secrets, 'key.bin');
    const keyInfoFile = path.join(secrets, 'key.keyinfo');
    fs.writeFileSync(keyFile, key.key, { mode: 0o600 });
    const ivLine = key.iv ? `${key.iv.toString('hex')}\n` : '';
    fs.writeFileSync(keyInfoFile, `${key.url}\n${keyFile}\n${ivLine}`, { mode: 0o600 });
    const args = ffmpegArgs(opts.input, opts.out, keyInfoFile, segmentSeconds, opts.reencode === true);
    await runFfmpeg(opts.ffmpeg, args, progress, (c) => (child = c));
  } finally {
    release();
    cleanup();
  }
}

function checkInputs(opts: PackageOptions): number {
  if (!fs.existsSync(opts.input)) throw new UsageError(`--input ${opts.input}: no such file`);
  resourceIdOption(opts.resourceId);
  if (opts.kid !== undefined) kidOption(opts.kid, '--kid');
  return intOption(opts.segmentSeconds, '--segment-seconds', 1, 60) as number;
}

async function run(cmd: Command): Promise<void> {
  const opts = cmd.opts<PackageOptions>();
  const segmentSeconds = checkInputs(opts);
  requireFfmpeg(opts.ffmpeg);
  // Bad input is found here, before a key is issued or the resource ID's lease is taken.
  const media = probeInput(opts.ffprobe ?? ffprobeBeside(opts.ffmpeg), opts.input);
  const key = await requestHlsKey(cmd, opts);
  const progress = new FfmpegProgress(media.durationSeconds, opts.json ? undefined : note);
  try {
    fs.mkdirSync(opts.out, { recursive: true });
    await packageWithKey(opts, key, segmentSeconds, progress);
  } catch (err) {
    throw await withLeaseReleased(cmd, opts.resourceId, key.kid, err);
  }
  const playlist = path.join(opts.out, 'index.m3u8');
  const text = fs.readFileSync(playlist, 'utf8');
  if (!text.includes(`URI="${key.url}"`))
    throw new CommandFailedError(`${playlist} has no EXT-X-KEY pointing at ${key.url}`);
  const segments = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).length;
  const summary = { playlist, segments, resourceId: opts.resourceId, kid: key.kid, keyUrl: key.url };
  if (opts.json) return printJson(summary);
  print(renderFields(Object.entries(summary).map(([k, v]) => [k, String(v)] as const)));
}

/** Defines `keyplane package-hls`. */
export function packageHlsCommand(): Command {
  const cmd = new Command('package-hls').description(
    'request an HLS AES-128 key over SPEKE and run ffmpeg to write an encrypted HLS rendition',
  );
  addClientOptions(cmd);
  addSpekePathOption(cmd);
  return cmd
    .requiredOption('--input <file>', 'source media (anything ffmpeg reads)')
    .requiredOption('--resource-id <id>', 'resource ID the key is issued for')
    .requiredOption('--out <dir>', 'output directory for index.m3u8 and the segments')
    .option('--kid <uuid>', 'reuse this KID (e.g. to re-package a resource ID) instead of a new one')
    .option('--segment-seconds <n>', 'target segment duration', '6')
    .option('--reencode', 'transcode to H.264/AAC instead of copying the codecs')
    .option('--ffmpeg <path>', 'ffmpeg executable', 'ffmpeg')
    .option('--ffprobe <path>', 'ffprobe executable, to check --input first (default: beside --ffmpeg)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
The key URL in EXT-X-KEY is the one the key provider returns (URIExtXKey). The key file
ffmpeg needs is written to a private temp directory and deleted afterwards.
--input is checked with ffprobe (readable, a video stream, a duration) before any key is
requested. --reencode forces a keyframe every --segment-seconds. Progress goes to stderr
(not with --json). If packaging fails, the resource ID's lease is released (the encoder
key holding it, or an admin key, may); if that fails, it stays until it expires. Either
way, rerunning with --kid <the KID printed> packages again with the same key.

Example:
  keyplane package-hls --url http://127.0.0.1:8080 --api-key $ENC --input movie.mp4 --resource-id movie-1 --out www/movie-1
${EXIT_CODES_HELP}
  (a missing ffmpeg exits 1 with install instructions)`,
    )
    .action(async (_opts, command: Command) => run(command));
}
