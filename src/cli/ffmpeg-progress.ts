/**
 * Turns ffmpeg's `-progress pipe:1` key=value stream into a percentage on stderr, so a long
 * package-hls run shows it is alive. Silent under `--json` (the caller passes no writer).
 */

/** Feeds ffmpeg progress output; writes "packaging: N%" whenever the whole percentage grows. */
export class FfmpegProgress {
  private pending = '';
  private shown = -1;

  constructor(
    private readonly durationSeconds: number,
    private readonly write: ((line: string) => void) | undefined,
  ) {}

  /** Consumes a chunk of ffmpeg's progress output. */
  push(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line.trim());
  }

  private line(line: string): void {
    const match = /^out_time_(?:us|ms)=(\d+)$/.exec(line);
    if (match) return this.show(Number(match[1]) / 1e6 / this.durationSeconds);
    if (line === 'progress=end') this.show(1);
  }

  private show(fraction: number): void {
    const percent = Math.max(0, Math.min(100, Math.floor(fraction * 100)));
    if (percent <= this.shown || !this.write) return;
    this.shown = percent;
    this.write(`packaging: ${percent}%\n`);
  }
}
