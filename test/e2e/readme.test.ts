/**
 * README.md is the walk-through a new user follows, so it runs here as written, top to bottom.
 *
 * Marker convention (an HTML comment on the line before a fence; GitHub does not render it):
 * - ```sh blocks are run in order with `bash -euo pipefail` in one temp directory (the "fresh clone": the
 *   checkout's files linked in, none of its local state); the
 *   shell variables and functions one block defines are there for the next (as in the user's terminal).
 * - `<!-- readme-test: server -->` marks a block for the server's terminal: it runs, but `npm ci && npm start`
 *   / `npm start` only records the `KEYPLANE_*` settings on its line, and the test (re)starts the built server
 *   with them on a free port and one data dir kept across restarts. `KP=http://127.0.0.1:8080` becomes that port.
 * - `<!-- readme-test: skip <reason> -->` leaves a block out (AWS, the whole test suite…); other fences
 *   (```console, ```xml, ```json) are never run.
 * - `curl` fails on a status ≥ 400 unless the line says which status it expects (`# 403 …`, see withStatusChecks).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST_SERVER, ROOT } from '../helpers/paths';
import { freePort } from '../helpers/server-process';
import { readmeBlocks, withStatusChecks, type ReadmeBlock } from '../helpers/readme-blocks';

jest.setTimeout(240_000);

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BASE_URL_LINE = /^KP=http:\/\/127\.0\.0\.1:8080\b/m;

const REAL_CURL = spawnSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim() || 'curl';

const CURL_WRAPPER = `#!/bin/bash
# README test: curl that fails on HTTP >= 400 unless the README line names the status it expects.
for a in "$@"; do case "$a" in *'%{http_code}'*) exec ${REAL_CURL} "$@";; esac; done
if [ -n "\${READMETEST_EXPECT:-}" ]; then
  codes=$(mktemp); ${REAL_CURL} "$@" -w '%{stderr}%{http_code}' 2>"$codes"; rc=$?
  got=$(tail -c 3 "$codes"); rm -f "$codes"; echo
  [ "$got" = "$READMETEST_EXPECT" ] || { echo "expected HTTP $READMETEST_EXPECT, got $got" >&2; exit 1; }
  exit $rc
fi
exec ${REAL_CURL} --fail-with-body "$@"
`;

const PRELUDE = `__expect_status() { local got; got=$(cat); echo "$got"; [ "$got" = "$1" ] || { echo "expected HTTP $1, got $got" >&2; return 1; }; }`;

/** Saves the variables and functions a block defined (bash's own are listed before the block runs). */
const SAVE_STATE = `
for __v in $(compgen -v); do
  case "$__before" in *" $__v "*) ;; *) [[ $__v == __* ]] || declare -p "$__v";; esac
done > "$READMETEST_STATE.new"
for __f in $(compgen -A function); do [[ $__f == __* ]] || declare -f "$__f"; done >> "$READMETEST_STATE.new"
mv "$READMETEST_STATE.new" "$READMETEST_STATE"`;

interface Run {
  dir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  server?: ChildProcess;
  serverLog: string[];
}

function script(block: ReadmeBlock, run: Run, serverEnvFile: string): string {
  let code = withStatusChecks(block.code).replace(BASE_URL_LINE, `KP=http://127.0.0.1:${run.port}`);
  if (block.kind === 'server') {
    code = code
      .replace(/^npm ci$/gm, ': npm ci')
      .replace(/npm ci && /g, '')
      .replace(/\bnpm start\b/g, `env > "${serverEnvFile}"`);
  }
  return [
    'set -euo pipefail',
    "__before=\" $(compgen -v | tr '\\n' ' ') \"",
    PRELUDE,
    'source "$READMETEST_STATE"',
    code,
    block.kind === 'run' ? SAVE_STATE : '',
  ].join('\n');
}

async function stopServer(run: Run): Promise<void> {
  const child = run.server;
  run.server = undefined;
  if (!child || child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function startServer(run: Run, settings: Record<string, string>): Promise<void> {
  await stopServer(run);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYPLANE_')) env[k] = v;
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...env,
      ...settings,
      KEYPLANE_PORT: String(run.port),
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_DATA_DIR: path.join(run.dir, 'data'),
    },
    cwd: run.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  run.server = child;
  child.stdout?.on('data', (d: Buffer) => run.serverLog.push(d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => run.serverLog.push(d.toString('utf8')));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`keyplane exited with ${child.exitCode}:\n${run.serverLog.join('')}`);
    const up = await fetch(`http://127.0.0.1:${run.port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`keyplane did not listen:\n${run.serverLog.join('')}`);
}

function readSettings(file: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(KEYPLANE_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1]) settings[m[1]] = m[2] ?? '';
  }
  return settings;
}

describe('README.md walk-through', () => {
  const blocks = readmeBlocks(README);
  let run: Run;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-readme-'));
    // a fresh clone as the blocks see it: the checkout's files (so `npx keyplane`, `npm run cli`, node_modules/…
    // work), but none of its local state (data/, secrets, files earlier runs wrote)
    for (const entry of fs.readdirSync(ROOT)) {
      if (entry.startsWith('.') || entry === 'data' || entry === 'coverage') continue;
      fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
    }
    const bin = path.join(dir, '.bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'curl'), CURL_WRAPPER, { mode: 0o755 });
    fs.writeFileSync(
      path.join(bin, 'keyplane'),
      `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin/keyplane.js')}" "$@"\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, '.state.sh'), '');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYPLANE_')) env[k] = v;
    env.PATH = `${bin}:${process.env.PATH}`;
    env.READMETEST_STATE = path.join(dir, '.state.sh');
    run = { dir, port: await freePort(), env, serverLog: [] };
  });

  afterAll(async () => {
    await stopServer(run);
    fs.rmSync(run.dir, { recursive: true, force: true });
  });

  it('marks its first commands and the walk-through start as documented', () => {
    expect(blocks[0]?.code).toContain('npm ci && npm start');
    expect(blocks.filter((b) => b.kind === 'server').length).toBeGreaterThan(0);
    expect(blocks.filter((b) => b.kind === 'run').some((b) => BASE_URL_LINE.test(b.code))).toBe(true);
    for (const b of blocks.filter((x) => x.kind === 'skip')) expect(b.reason).toMatch(/\w{3}/);
    // one base URL: commands use $KP (comments may show what the answers look like on the default port)
    for (const b of blocks.filter((x) => x.kind !== 'skip')) {
      const commands = b.code.split('\n').filter((l) => !l.trimStart().startsWith('#'));
      expect(commands.join('\n')).not.toMatch(/localhost:8080|127\.0\.0\.1:8080\//);
    }
  });

  it('runs every shell block in order against a real server', async () => {
    const serverEnvFile = path.join(run.dir, '.server.env');
    for (const block of blocks) {
      if (block.kind === 'skip') continue;
      const where = `README.md:${block.line} (${block.section})`;
      const result = spawnSync('bash', ['-c', script(block, run, serverEnvFile)], {
        cwd: run.dir,
        env: run.env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (result.status !== 0) {
        throw new Error(
          `${where} failed (exit ${result.status}):\n--- block ---\n${block.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}\n--- server ---\n${run.serverLog.slice(-20).join('')}`,
        );
      }
      if (block.kind === 'server') {
        await startServer(run, readSettings(serverEnvFile));
        fs.rmSync(serverEnvFile);
      }
    }
    // the walk-through's deliberate refusals stay far below the default failed-auth limit (120/min per IP)
    expect(run.serverLog.join('')).not.toContain('"status":429');
  });
});
