/**
 * Checks `package-hls` input with ffprobe before anything is asked of the key server: the file
 * must be media ffprobe reads, with a video stream and a duration. A bad input therefore never
 * takes a lease or issues a key; the duration also turns ffmpeg's progress into a percentage.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { CommandFailedError, UsageError } from './cli-errors';

/** What package-hls needs to know about its input. */
export interface MediaInfo {
  durationSeconds: number;
  videoCodec: string;
}

/** ffprobe beside the given ffmpeg (`/opt/ff/bin/ffmpeg` → `/opt/ff/bin/ffprobe`), else `ffprobe` on PATH. */
export function ffprobeBeside(ffmpeg: string): string {
  const base = path.basename(ffmpeg);
  if (!base.startsWith('ffmpeg')) return 'ffprobe';
  return ffmpeg === base
    ? base.replace('ffmpeg', 'ffprobe')
    : path.join(path.dirname(ffmpeg), base.replace('ffmpeg', 'ffprobe'));
}

interface ProbeJson {
  streams?: Array<{ codec_type?: string; codec_name?: string; duration?: string }>;
  format?: { duration?: string };
}

/** Probes `input`; a usage error (exit 2) names what is wrong with it, a failed command what is wrong with ffprobe. */
export function probeInput(ffprobe: string, input: string): MediaInfo {
  const run = spawnSync(ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', input], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (run.error) {
    throw new CommandFailedError(
      `ffprobe was not found or does not run ("${ffprobe}": ${(run.error as NodeJS.ErrnoException).code}). ` +
        'It comes with ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg); or pass --ffprobe /path/to/ffprobe.',
    );
  }
  const why = (run.stderr ?? '').trim().split('\n').pop() ?? '';
  if (run.status !== 0)
    throw new UsageError(`--input ${input}: not media ffprobe can read (${why || `exit ${run.status}`})`);
  let parsed: ProbeJson;
  try {
    parsed = JSON.parse(run.stdout) as ProbeJson;
  } catch {
    throw new UsageError(`--input ${input}: ffprobe printed no readable description of the file`);
  }
  const video = parsed.streams?.find((s) => s.codec_type === 'video');
  if (!video) throw new UsageError(`--input ${input}: has no video stream (package-hls packages video)`);
  const duration = Number(parsed.format?.duration ?? video.duration);
  if (!Number.isFinite(duration) || duration <= 0) {
    throw new UsageError(`--input ${input}: has no duration (a still image or a broken file?)`);
  }
  return { durationSeconds: duration, videoCodec: video.codec_name ?? 'unknown' };
}
