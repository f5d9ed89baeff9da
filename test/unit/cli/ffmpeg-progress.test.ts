import { FfmpegProgress } from '../../../src/cli/ffmpeg-progress';
import { ffprobeBeside } from '../../../src/cli/media-probe';

describe('FfmpegProgress', () => {
  it('turns -progress output into growing whole percentages, split across chunks', () => {
    const lines: string[] = [];
    const progress = new FfmpegProgress(4, (l) => lines.push(l));
    progress.push('frame=1\nout_time_us=1000000\nprogress=continue\nout_time_');
    progress.push('us=1000000\nout_time_us=2500000\n');
    progress.push('out_time_us=N/A\nprogress=end\n');
    expect(lines).toEqual(['packaging: 25%\n', 'packaging: 62%\n', 'packaging: 100%\n']);
  });

  it('writes nothing without a writer (--json)', () => {
    expect(() => new FfmpegProgress(1, undefined).push('out_time_us=500000\nprogress=end\n')).not.toThrow();
  });
});

describe('ffprobeBeside', () => {
  it('finds ffprobe next to the given ffmpeg, else on PATH', () => {
    expect(ffprobeBeside('ffmpeg')).toBe('ffprobe');
    expect(ffprobeBeside('/opt/ff/bin/ffmpeg')).toBe('/opt/ff/bin/ffprobe');
    expect(ffprobeBeside('/usr/local/bin/my-encoder')).toBe('ffprobe');
  });
});
