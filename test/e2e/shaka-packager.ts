import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths';
import { ffmpegOk } from './ffmpeg';

/** Shaka Packager from the `shaka-packager` npm package (dev dependency). */
export const PACKAGER = path.join(ROOT, 'node_modules/shaka-packager/bin/packager-linux-x64');

/** One content key as Shaka Packager's `--keys` takes it. */
export interface RawKey {
  /** DRM label the stream descriptor names (`drm_label=`). */
  label: string;
  /** Lower-case UUID. */
  kid: string;
  key: Buffer;
  /** Constant IV (cbcs), when the key provider gave one. */
  iv?: Buffer;
}

/** What to package: one stream of the source, encrypted with one key and carrying the given pssh boxes. */
export interface EncryptJob {
  source: string;
  stream: 'video' | 'audio';
  /** Output folder; gets `<stream>/init.mp4`, `<stream>/<n>.m4s` and `<stream>.mpd`. */
  dir: string;
  key: RawKey;
  scheme: 'cenc' | 'cbcs';
  /** The pssh boxes to write into the init segment (and the MPD), as the key provider returned them. */
  pssh: Buffer[];
}

/** Throws unless the packager binary is present and runs (CI installs it with `npm ci`). */
export async function requirePackager(): Promise<string> {
  if (!fs.existsSync(PACKAGER)) throw new Error(`Shaka Packager not found at ${PACKAGER}: run npm ci`);
  return (await runPackager(['--version'])).trim();
}

/** Runs the packager; rejects with its output unless it exits 0. */
export function runPackager(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PACKAGER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.once('error', reject);
    child.once('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(text);
      else reject(new Error(`packager ${args.join(' ')} exited ${code}:\n${text}`));
    });
  });
}

function keysFlag(keys: RawKey[]): string {
  return keys
    .map((k) => {
      const iv = k.iv ? `:iv=${k.iv.toString('hex')}` : '';
      return `label=${k.label}:key_id=${k.kid.replace(/-/g, '')}:key=${k.key.toString('hex')}${iv}`;
    })
    .join(',');
}

/**
 * Packages one stream to DASH (2 s segments, every segment encrypted: no clear lead) with raw-key CENC;
 * returns the MPD path. Each stream is packaged on its own so its init segment carries only the pssh boxes
 * of its own KID, as a SPEKE encoder writes them (`--pssh` applies to every stream of a run).
 */
export async function packageEncrypted(job: EncryptJob): Promise<string> {
  const out = path.join(job.dir, job.stream);
  const mpd = path.join(job.dir, `${job.stream}.mpd`);
  await runPackager([
    `in=${job.source},stream=${job.stream},init_segment=${out}/init.mp4,segment_template=${out}/$Number$.m4s,drm_label=${job.key.label}`,
    '--enable_raw_key_encryption',
    ...['--keys', keysFlag([job.key])],
    ...['--pssh', Buffer.concat(job.pssh).toString('hex')],
    ...['--protection_scheme', job.scheme],
    ...['--clear_lead', '0'],
    ...['--segment_duration', '2'],
    '--generate_static_live_mpd',
    ...['--mpd_output', mpd],
  ]);
  return mpd;
}

/** The init segment followed by the media segments of a packaged stream, as one fragmented MP4 file. */
export function joinSegments(streamDir: string, file: string): string {
  const media = fs
    .readdirSync(streamDir)
    .filter((f) => /^\d+\.m4s$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const parts = ['init.mp4', ...media].map((f) => fs.readFileSync(path.join(streamDir, f)));
  fs.writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** Decrypts a fragmented MP4 with raw keys (`--enable_raw_key_decryption`) into a clear MP4. */
export async function decryptWithPackager(input: string, stream: 'video' | 'audio', key: RawKey, output: string) {
  await runPackager([
    `in=${input},stream=${stream},output=${output},drm_label=${key.label}`,
    '--enable_raw_key_decryption',
    ...['--keys', keysFlag([{ ...key, iv: undefined }])],
  ]);
  return output;
}

/** Encodes a clear MP4 (H.264 Baseline 320x240 at 25 fps, AAC-LC 48 kHz) of `seconds` seconds. */
export async function makeClearMp4(file: string, seconds: number): Promise<void> {
  await ffmpegOk([
    ...['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...['-t', String(seconds), '-g', '25', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-b:a', '64k', '-y', file],
  ]);
}

/**
 * One MPD from the per-stream MPDs: the first one's Period with the AdaptationSets of the others appended
 * (ids renumbered). Shaka Packager writes segment paths relative to the MPD, so all must share a folder.
 */
export function mergeMpds(mpds: string[], output: string): string {
  const texts = mpds.map((f) => fs.readFileSync(f, 'utf8'));
  const sets = texts.slice(1).flatMap((t) => t.match(/<AdaptationSet[\s\S]*?<\/AdaptationSet>/g) ?? []);
  const renumbered = sets.map((set, i) =>
    set
      .replace(/<AdaptationSet id="\d+"/, `<AdaptationSet id="${i + 1}"`)
      .replace(/<Representation id="\d+"/, `<Representation id="${i + 1}"`),
  );
  const merged = (texts[0] as string).replace('</Period>', `${renumbered.join('\n')}\n  </Period>`);
  fs.writeFileSync(output, merged);
  return output;
}
