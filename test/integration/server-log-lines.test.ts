import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { duplicateKeys } from '../helpers/json-keys';
import { DIST_SERVER } from '../helpers/paths';
import { freePort } from '../helpers/server-process';

// Every log line the real server writes (trace level, through start, successes, refusals and errors, stop)
// is one JSON object with each key once: a second `msg` would hide the first from JSON tools.

const ADMIN = 'log-lines-admin-key-0123456789abcdef';

it('writes no JSON line with a duplicate key through a run with refusals and errors', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-log-lines-'));
  const port = await freePort();
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...process.env,
      KEYPLANE_DATA_DIR: dataDir,
      KEYPLANE_ADMIN_KEY: ADMIN,
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: String(port),
      KEYPLANE_LOG_LEVEL: 'trace',
      KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'off',
      KEYPLANE_PROT: '8080',
      KEYPLANE_NOTHING_LIKE_ANY_SETTING: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 600 && !stdout.includes('keyplane listening'); i++) await new Promise((r) => setTimeout(r, 50));
    const admin = { authorization: `Bearer ${ADMIN}` };
    const xml = { ...admin, 'content-type': 'application/xml' };
    const calls: Array<[string, RequestInit]> = [
      ['/heartbeat', {}],
      ['/api-keys', { headers: admin }],
      ['/api-keys', {}],
      ['/api-keys', { headers: { authorization: 'Bearer wrong' } }],
      ['/copyProtection', { headers: admin }],
      ['/copyProtection', { method: 'POST', headers: xml, body: '' }],
      ['/copyProtection', { method: 'POST', headers: xml, body: '<cpix' }],
      ['/copyProtection', { method: 'POST', headers: { ...admin, 'content-type': 'text/plain' }, body: 'x' }],
      ['/keys/r/not-a-kid', { headers: admin }],
      ['/no-such-route', { headers: admin }],
    ];
    const statuses = [];
    for (const [p, init] of calls) statuses.push((await fetch(base + p, init)).status);
    expect(statuses).toEqual([200, 200, 401, 401, 405, 400, 400, 415, expect.any(Number), 404]);
  } finally {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBeGreaterThan(10);
  expect(lines.filter((l) => duplicateKeys(l).length > 0)).toEqual([]);
  // The two unknown variables set above: one warn line naming both, with a suggestion for the typo.
  const warnings = lines.map((l) => JSON.parse(l)).filter((l) => /unknown KEYPLANE_/.test(l.msg));
  expect(warnings).toEqual([
    expect.objectContaining({
      level: 40,
      msg: 'unknown KEYPLANE_* variables, ignored: KEYPLANE_NOTHING_LIKE_ANY_SETTING, KEYPLANE_PROT (did you mean KEYPLANE_PORT?)',
    }),
  ]);
});
