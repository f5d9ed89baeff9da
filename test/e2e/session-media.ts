import fs from 'node:fs';
import path from 'node:path';
import { ffmpegOk, pickCodecs } from './ffmpeg';

/** The clear HLS layouts the session tests play: MPEG-TS, fMP4 (EXT-X-MAP), one byte-range TS file. */
export const LAYOUTS = ['ts', 'fmp4', 'byterange'] as const;

/** One clear layout. */
export type Layout = (typeof LAYOUTS)[number];

const COMMON = ['-c', 'copy', '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod'];

/** Packages `source` (clear, 1 s segments) into `dir/{layout}/index.m3u8` without any encryption. */
export async function packageClear(source: string, dir: string, layout: Layout): Promise<string> {
  const out = path.join(dir, layout);
  fs.mkdirSync(out, { recursive: true });
  const playlist = path.join(out, 'index.m3u8');
  const byLayout: Record<Layout, string[]> = {
    ts: ['-hls_segment_filename', path.join(out, 'seg%03d.ts')],
    fmp4: [
      // ADTS AAC (from MPEG-TS) must become MP4's AudioSpecificConfig form.
      ...(pickCodecs().includes('aac') ? ['-bsf:a', 'aac_adtstoasc'] : []),
      ...['-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4'],
      ...['-hls_segment_filename', path.join(out, 'seg%03d.m4s')],
    ],
    byterange: ['-hls_flags', 'single_file', '-hls_segment_filename', path.join(out, 'all.ts')],
  };
  await ffmpegOk(['-i', source, ...COMMON, ...byLayout[layout], playlist]);
  return playlist;
}
