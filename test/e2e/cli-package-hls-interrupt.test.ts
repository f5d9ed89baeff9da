import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ffmpegOk, pickCodecs, requireFfmpeg } from './ffmpeg';
import { BIN, cleanEnv, runCliJson, serveKeyplane, type ServeProcess } from './cli-process';

// Ctrl-C (or SIGTERM) while `keyplane package-hls` runs ffmpeg: the process exits, ffmpeg does not outlive it,
// and the plain key file and key-info file are deleted. ffmpeg is made to run until stopped by a wrapper that
// reads the clip in real time, looped forever (-re -stream_loop -1), so the signal always lands mid-packaging.

const ADMIN_KEY = `hls-int-admin-${crypto.randomBytes(12).toString('hex')}`;

let kp: ServeProcess;
let work: string;
let clip: string;
let wrapper: string;
let encoder: Record<string, string>;
const leftovers: number[] = [];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
const childrenOf = (pid: number): number[] =>
  spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const got = probe();
    if (got !== undefined) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  requireFfmpeg();
  kp = await serveKeyplane(ADMIN_KEY);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-cli-hls-int-'));
  clip = path.join(work, 'clip.ts');
  await ffmpegOk(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-g', '10', ...pickCodecs(), clip]);
  wrapper = path.join(work, 'slow-ffmpeg');
  // `-version` (the availability probe) runs as is; the packaging run reads its input in real time, forever.
  fs.writeFileSync(
    wrapper,
    '#!/bin/sh\ncase "$*" in *-version*) exec ffmpeg "$@";; esac\nexec ffmpeg -re -stream_loop -1 "$@"\n',
    { mode: 0o755 },
  );
  const { key } = await runCliJson<{ key: string }>(['api-key', 'create', '--name', 'int', '--roles', 'encoder'], {
    KEYPLANE_URL: kp.url,
    KEYPLANE_API_KEY: ADMIN_KEY,
  });
  encoder = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: key };
});

afterAll(async () => {
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await kp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it.each(['SIGINT', 'SIGTERM'] as const)(
  '%s while ffmpeg runs stops ffmpeg and deletes the key files',
  async (signal) => {
    const tmpdir = fs.mkdtempSync(path.join(work, `tmp-${signal}-`));
    const args = ['package-hls', '--input', clip, '--resource-id', `int-${signal}`, '--out', path.join(tmpdir, 'out')];
    const cli = spawn(process.execPath, [BIN, ...args, '--ffmpeg', wrapper], {
      env: cleanEnv({ ...encoder, TMPDIR: tmpdir }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    const secrets = await until('the key file', () => {
      const dir = fs.readdirSync(tmpdir).find((d) => d.startsWith('keyplane-hls-'));
      return dir && fs.existsSync(path.join(tmpdir, dir, 'key.bin')) ? path.join(tmpdir, dir) : undefined;
    });
    const ffmpegPid = await until('ffmpeg to run', () => childrenOf(cli.pid as number)[0]);
    leftovers.push(ffmpegPid);
    await until('ffmpeg to write a segment', () =>
      fs.existsSync(path.join(tmpdir, 'out', 'segment00000.ts')) ? true : undefined,
    );
    expect(alive(ffmpegPid)).toBe(true);

    cli.kill(signal);
    const code = await exited;
    expect([code, stderr]).toEqual([signal === 'SIGINT' ? 130 : 143, expect.stringContaining(signal)]);
    await until('ffmpeg to be gone', () => (alive(ffmpegPid) ? undefined : true));
    expect(fs.existsSync(secrets)).toBe(false);
  },
  60_000,
);
