import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { secureLinkToken } from '../../src/auth/secure-token';
import { duplicateKeys } from '../helpers/json-keys';
import { DIST_SERVER } from '../helpers/paths';
import { reportFigures } from '../helpers/report';
import { freePort } from '../helpers/server-process';
import { ADMIN_KEY } from '../helpers/test-app';

// Each class of the "hostile callers" issue, tried against a real server process (logging at trace to
// stdout, which we read): token spellings, token lifetimes, playlist injection, outbound fetches,
// echoed secrets, weak secrets at start, and log lines. Figures go to docs/reliability.md.

const SIGNING = crypto.randomBytes(32);
const LINK = { clientId: 'cms-1', secret: 'secure-link-secret-0123456789', algorithm: 'hmac-sha256' as const };
const RESOURCE = 'vod-1';
/** A KID for origin playlists' key URIs; `kid` is the static key's, read from the server at start. */
const KID = '11111111-2222-4333-8444-555555555555';
let kid = '';
const MAX_TTL = 3600;

interface Server {
  port: number;
  child: ChildProcess;
  stdout: () => string;
  stop: () => Promise<void>;
}

/** `node dist/src/server.js` with stdout captured (the log); resolves once /heartbeat answers, or rejects with stderr. */
async function startServer(dataDir: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [DIST_SERVER], {
    env: {
      ...process.env,
      KEYPLANE_DATA_DIR: dataDir,
      KEYPLANE_ADMIN_KEY: ADMIN_KEY,
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: String(port),
      KEYPLANE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      KEYPLANE_LOG_LEVEL: 'trace',
      // Each class sends many refusals from one address; the abuse limit has its own test (hostile-routes).
      KEYPLANE_RATE_LIMIT_FAILED_AUTH: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stderr}${stdout}`);
    const up = await fetch(`http://127.0.0.1:${port}/heartbeat`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    stdout: () => stdout,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts the server expecting it to refuse: resolves with what it printed. */
async function refusedStart(dataDir: string, env: Record<string, string>): Promise<string> {
  try {
    const server = await startServer(dataDir, env);
    await server.stop();
    return 'started';
  } catch (err) {
    return (err as Error).message;
  }
}

function jwt(payload: object, secret = SIGNING): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${enc(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);
const token = (over: object = {}) =>
  jwt({ sub: RESOURCE, aud: 'keyplane-playback', jti: crypto.randomUUID(), iat: now(), exp: now() + 60, ...over });

/** Statuses seen per class, and every response/header text (for the secret scan). */
const statuses: Record<string, Record<string, number>> = {};
const cases: Record<string, number> = {};
const answers: string[] = [];
const originSeen: string[] = [];
const elsewhereSeen: string[] = [];
const secrets = new Set<string>([ADMIN_KEY, SIGNING.toString('base64'), LINK.secret]);

function count(cls: string, status: number | string): void {
  cases[cls] = (cases[cls] ?? 0) + 1;
  const byStatus = (statuses[cls] ??= {});
  byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
}

let server: Server;
let base: string;
let dataDir: string;
let origin: http.Server;
let elsewhere: http.Server;
let apiKey = '';

async function call(
  cls: string,
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${base}${url}`, { redirect: 'manual', ...init });
  const text = await res.text();
  const playlist = res.status === 200 && (res.headers.get('content-type') ?? '').includes('mpegurl');
  answers.push(`${res.status} ${JSON.stringify([...res.headers])} ${playlist ? '' : text}`);
  count(cls, res.status);
  return { status: res.status, text, headers: res.headers };
}

/** A GET with raw (possibly repeated) headers, which fetch would merge; resolves with the status. */
function rawGet(urlPath: string, rawHeaders: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: urlPath, headers: rawHeaders }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const HOSTILE_PLAYLISTS: Record<string, string> = {
  'cr.m3u8': '#EXTM3U\n# a\r#EXT-X-KEY:METHOD=NONE\n#EXTINF:4,\ns.ts\n',
  'nel.m3u8': '#EXTM3U\n#EXT-X-MAP:URI="i.mp4",X-A="a\u2028#EXT-X-ENDLIST"\n',
  'ls.m3u8': '#EXTM3U\n#EXTINF:4,\ndata:x\u2029#EXT-X-ENDLIST\n',
  'nul.m3u8': '#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\u0000#EXT-X-ENDLIST\n',
  'quotes.m3u8': '#EXTM3U\n#EXT-X-MAP:URI="in it.mp4?a=b,c"\n#EXTINF:4,\nseg "1".ts?x=",URI="evil\n',
  'cr-uri.m3u8': '#EXTM3U\n#EXTINF:4,\nseg.ts\r#EXT-X-KEY:METHOD=NONE\n',
  'key.m3u8': `#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="/k/${KID}?a=,IV=0x00",IV=0x01\n#EXTINF:4,\ns.ts\n`,
  'echo.m3u8': '#EXTM3U\n#EXT-X-MAP:URI=""\n#EXTINF:4,\n?\n',
};

beforeAll(async () => {
  elsewhere = http.createServer((req, res) => void (elsewhereSeen.push(req.url ?? ''), res.end('#EXTM3U\n')));
  await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  const elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
  origin = http.createServer((req, res) => {
    originSeen.push(`${req.url} ${JSON.stringify(req.headers)}`);
    const name = (req.url ?? '').split('?')[0]?.split('/').pop() ?? '';
    if (name === 'away.m3u8') return res.writeHead(302, { location: `${elsewhereUrl}/internal.m3u8` }).end();
    if (name === 'here.m3u8') return res.writeHead(302, { location: 'echo.m3u8' }).end();
    if (name === 'boom.m3u8') return res.writeHead(500).end(`database at ${elsewhereUrl} is down`);
    res.end(HOSTILE_PLAYLISTS[name] ?? `#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k/${KID}"\n#EXTINF:4,\ns.ts\n`);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-hostile-auth-'));
  server = await startServer(dataDir, {
    KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SIGNING.toString('base64')}`,
    KEYPLANE_TOKEN_MAX_TTL_SECONDS: String(MAX_TTL),
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: LINK.clientId,
    KEYPLANE_SECURE_TOKEN_SECRET: LINK.secret,
    KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/vod/{resourceId}/`,
    KEYPLANE_ORIGIN_TIMEOUT_MS: '2000',
  });
  base = `http://127.0.0.1:${server.port}`;
  const created = await fetch(`${base}/api-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'proxy', roles: ['keyserver'] }),
  });
  apiKey = ((await created.json()) as { key: string }).key;
  secrets.add(apiKey);
  const staticKey = await fetch(`${base}/static-keys`, {
    method: 'POST',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
  expect(staticKey.status).toBe(201);
  kid = ((await staticKey.json()) as { kid: string }).kid;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  for (const s of [origin, elsewhere]) {
    s?.closeAllConnections();
    await new Promise<void>((resolve) => s?.close(() => resolve()));
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const keyPath = () => `/keys/${RESOURCE}/${kid}`;
/** The class the transports below count their answers under. */
let phase = 'spelling';
const transports = {
  path: (t: string, extra = '') => call(phase, `/playback/${t}/keys/${RESOURCE}/${kid}${extra}`),
  query: (t: string, extra = '') => call(phase, `${keyPath()}?token=${t}${extra}`),
  bearer: (t: string) => call(phase, keyPath(), { headers: { authorization: `Bearer ${t}` } }),
};

describe('hostile callers against a server process', () => {
  it('1. accepts a token in one spelling only, on every transport', async () => {
    const good = token();
    secrets.add(good);
    secrets.add(good.split('.')[2] as string);
    for (const send of Object.values(transports)) expect((await send(good)).status).toBe(200);
    const [h, p, s] = good.split('.') as [string, string, string];
    const spellings = [
      `${good}=`,
      `${good}==`,
      `${good}.x`,
      `${good}.`,
      `.${good}`,
      `${good}%20`,
      `%20${good}`,
      `${good}%0A`,
      `${good}%09`,
      `${good}%2E`,
      `${good}%2F`,
      `%${good.charCodeAt(0).toString(16)}${good.slice(1)}`,
      `${h}.${p}.${s.slice(0, -1)}${s.endsWith('A') ? 'B' : 'A'}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s}+`,
      `${h}.${p}`,
    ];
    for (const spelling of spellings) {
      expect((await transports.path(spelling)).status).toBe(401);
      expect((await transports.query(spelling)).status).toBe(401);
      if (!spelling.includes('%')) expect((await transports.bearer(spelling)).status).toBe(401);
    }
    const mixed = [
      transports.path(good, `?token=${good}`),
      transports.query(good, `&token=${good}`),
      transports.query(good, `&%74oken=${good}`),
      call('spelling', `${keyPath()}?token=${good}`, { headers: { authorization: `Bearer ${good}` } }),
      call('spelling', `/playback/${good}/keys/${RESOURCE}/${kid}`, { headers: { authorization: `Bearer ${good}` } }),
      call('spelling', `/playback/${good}/keys/${RESOURCE}/${kid}`, { headers: { cookie: `token=${good}` } }),
      call('spelling', `/playback/${good}/hls/${RESOURCE}/a.m3u8?token=${good}`),
    ];
    for (const res of mixed) expect((await res).status).toBe(401);
    const twice = await rawGet(keyPath(), [
      'Host',
      `127.0.0.1:${server.port}`,
      'Authorization',
      `Bearer ${good}`,
      'Authorization',
      `Bearer ${good}`,
    ]);
    count('spelling', twice);
    expect(twice).toBe(401);
  });

  it('2. bounds token lifetimes', async () => {
    phase = 'lifetime';
    const expectations: [object, number][] = [
      [{ iat: now() + 3600, exp: now() + 3660 }, 401],
      [{ iat: now() + 120, exp: now() + 180 }, 401],
      [{ iat: now() + 30, exp: now() + 90 }, 200],
      [{ exp: undefined }, 401],
      [{ iat: undefined }, 401],
      [{ iat: now(), exp: now() + MAX_TTL + 1 }, 401],
      [{ iat: now(), exp: now() + 10 * 365 * 86400 }, 401],
      [{ iat: now(), exp: now() + MAX_TTL }, 200],
      [{ iat: now() - 120, exp: now() - 60 }, 410],
    ];
    for (const [over, status] of expectations) {
      const t = token(over);
      secrets.add(t);
      for (const transport of Object.values(transports)) {
        expect((await transport(t)).status).toBe(status);
      }
    }
  });

  it('3. keeps every playlist line and attribute intact against hostile origins and query strings', async () => {
    const shape = (text: string) =>
      text.split('\n').map((l) => (l.startsWith('#') ? l.split(/[:,]/)[0] : l ? 'uri' : ''));
    for (const name of Object.keys(HOSTILE_PLAYLISTS)) {
      const t = token();
      secrets.add(t);
      const res = await call('playlist', `/playback/${t}/hls/${RESOURCE}/${name}`);
      expect([200, 502]).toContain(res.status);
      expect(/[\r\u0085\u2028\u2029]/.test(res.text) || res.text.includes('\u0000')).toBe(false);
      if (res.status === 502) expect(res.text).not.toMatch(/EXT-X-KEY|EXT-X-ENDLIST|evil/);
      if (res.status === 200) {
        expect(shape(res.text).filter((k) => k === '#EXT-X-KEY').length).toBeLessThanOrEqual(1);
        for (const line of res.text.split('\n').filter((l) => l.startsWith('#EXT-X-'))) {
          expect((line.match(/"/g) ?? []).length % 2).toBe(0);
          expect((line.match(/URI=/g) ?? []).length).toBeLessThanOrEqual(1);
        }
      }
    }
    const queries = [
      '?a=%22,URI=%22http://evil.test/%22',
      '?a=%0D%0A%23EXT-X-KEY:METHOD=NONE',
      '?a=",URI="x",b',
      '?a=%E2%80%A8%23EXT-X-ENDLIST',
      '?a=%00b',
      '?a=\'"<>',
    ];
    for (const q of queries) {
      const t = token();
      secrets.add(t);
      const res = await call('playlist', `/playback/${t}/hls/${RESOURCE}/echo.m3u8${q}`);
      expect(res.status).toBe(200);
      expect(shape(res.text)).toEqual(['#EXTM3U', '#EXT-X-MAP', '#EXTINF', 'uri', '']);
      expect(res.text).not.toMatch(/[\r\u2028]/);
    }
  });

  it('4. keeps outbound fetches on the configured origin, carrying nothing of the caller', async () => {
    const t = token();
    secrets.add(t);
    const before = elsewhereSeen.length;
    const away = await call('outbound', `/playback/${t}/hls/${RESOURCE}/away.m3u8`);
    expect(away.status).toBe(502);
    expect(away.text).not.toMatch(/internal|127\.0\.0\.1/);
    expect(elsewhereSeen.length).toBe(before);
    expect((await call('outbound', `/playback/${t}/hls/${RESOURCE}/here.m3u8`)).status).toBe(200);
    const boom = await call('outbound', `/playback/${t}/hls/${RESOURCE}/boom.m3u8`);
    expect(boom.status).toBe(502);
    expect(boom.text).not.toMatch(/database|127\.0\.0\.1/);
    const withCredentials = await call('outbound', `/playback/${t}/hls/${RESOURCE}/plain.m3u8?v=1`, {
      headers: { cookie: 'session=1', 'x-api-key': apiKey, 'x-amz-security-token': 'sts-token-value-0123' },
    });
    expect(withCredentials.status).toBe(200);
    secrets.add('sts-token-value-0123');
    const segment = await call('outbound', `/playback/${t}/hls/${RESOURCE}/s.ts?v=1`);
    expect(segment.status).toBe(302);
    expect(segment.headers.get('location')).not.toContain(t);
    const closedPort = await freePort();
    const deadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-hostile-dead-'));
    const dead = await startServer(deadDir, {
      KEYPLANE_TOKEN_SIGNING_KEYS: `k1:${SIGNING.toString('base64')}`,
      KEYPLANE_ORIGIN_URL: `http://127.0.0.1:${closedPort}/vod/{resourceId}/`,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${dead.port}/playback/${t}/hls/${RESOURCE}/a.m3u8`);
      const text = await res.text();
      count('outbound', res.status);
      expect(res.status).toBe(502);
      expect(text).not.toMatch(new RegExp(`${closedPort}|ECONNREFUSED|127\\.0\\.0\\.1`));
    } finally {
      await dead.stop();
      fs.rmSync(deadDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('5. echoes no credential in a body, a header, a log line or an origin request', async () => {
    const expires = now() + 60;
    const link = secureLinkToken(LINK, RESOURCE, expires);
    secrets.add(link);
    const t = token();
    secrets.add(t);
    const probes: [string, RequestInit][] = [
      [`/secure/${LINK.clientId}_${RESOURCE}/${link}/${expires}/keys/${kid}`, {}],
      [`/secure/${LINK.clientId}_${RESOURCE}/${link}A/${expires}/keys/${kid}`, {}],
      [`/secure/${LINK.clientId}_${RESOURCE}/${link}/${expires}/nope`, { headers: { 'x-api-key': apiKey } }],
      [`/playback/${t}/nope`, { headers: { 'x-api-key': apiKey } }],
      [`/playback/${t}/keys/${RESOURCE}/not-a-kid`, {}],
      [`/playback/${token({ sub: 'other' })}/keys/${RESOURCE}/${KID}`, {}],
      [keyPath(), { headers: { 'x-api-key': `${apiKey}x` } }],
      [keyPath(), { headers: { authorization: `Bearer ${apiKey}x` } }],
      [
        keyPath(),
        { headers: { authorization: `AWS4-HMAC-SHA256 Credential=AKIA1234/x, Signature=${'ab'.repeat(32)}` } },
      ],
      [`${keyPath()}?X-Amz-Signature=${'cd'.repeat(32)}&X-Amz-Credential=AKIA1234`, {}],
      ['/api-keys', { headers: { 'x-api-key': ADMIN_KEY } }],
    ];
    secrets.add('ab'.repeat(32));
    secrets.add('cd'.repeat(32));
    for (const [url, init] of probes) await call('echo', url, init);
    await new Promise((r) => setTimeout(r, 200));
    const places: [string, string][] = [
      ['responses', answers.join('\n')],
      ['the log', server.stdout()],
      ['origin requests', originSeen.join('\n')],
    ];
    let checks = 0;
    for (const secret of secrets) {
      for (const [where, text] of places) {
        checks++;
        expect(text.includes(secret) ? `${secret.slice(0, 10)}… in ${where}` : 'absent').toBe('absent');
      }
    }
    cases.echoScans = checks;
  });

  it('6. refuses weak secrets and readable secret files at start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-hostile-weak-'));
    try {
      const creds = path.join(dir, 'creds');
      fs.writeFileSync(creds, 'AKIA1111:0123456789abcdef0123:keyserver\n', { mode: 0o644 });
      fs.chmodSync(creds, 0o644);
      const results: [string, RegExp][] = [
        [
          await refusedStart(path.join(dir, 'a'), {
            KEYPLANE_SECURE_TOKEN_CLIENT_ID: 'c1',
            KEYPLANE_SECURE_TOKEN_SECRET: 'short-md5-key',
            KEYPLANE_SECURE_TOKEN_ALGORITHM: 'md5',
          }),
          /KEYPLANE_SECURE_TOKEN_SECRET/,
        ],
        [await refusedStart(path.join(dir, 'b'), { KEYPLANE_SIGV4_CREDENTIALS_FILE: creds }), /creds.*chmod 600/],
      ];
      fs.mkdirSync(path.join(dir, 'c'), { mode: 0o700 });
      fs.writeFileSync(path.join(dir, 'c', 'master.key'), `${crypto.randomBytes(32).toString('base64')}\n`, {
        mode: 0o644,
      });
      fs.chmodSync(path.join(dir, 'c', 'master.key'), 0o644);
      results.push([await refusedStart(path.join(dir, 'c'), {}), /master\.key.*chmod 600/]);
      fs.mkdirSync(path.join(dir, 'd'), { mode: 0o700 });
      const keysFile = path.join(dir, 'd', 'token-keys.json');
      fs.writeFileSync(keysFile, JSON.stringify({ keys: [{ kid: 'k', secret: SIGNING.toString('base64') }] }), {
        mode: 0o604,
      });
      fs.chmodSync(keysFile, 0o604);
      results.push([await refusedStart(path.join(dir, 'd'), {}), /token-keys\.json.*chmod 600/]);
      for (const [output, expected] of results) {
        count('weak-secrets', output === 'started' ? 'started' : 'refused');
        expect(output).toMatch(expected);
        expect(output).not.toContain('0123456789abcdef0123');
        expect(output).not.toContain(SIGNING.toString('base64'));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('7. writes log lines with each key once', () => {
    const lines = server
      .stdout()
      .split('\n')
      .filter((l) => l.trim() !== '');
    let duplicated = 0;
    for (const line of lines) if (duplicateKeys(line).length > 0) duplicated++;
    cases.logLines = lines.length;
    statuses.logLines = {
      duplicated,
      rejectedLines: lines.filter((l) => l.includes('"msg":"request rejected"')).length,
    };
    expect(lines.length).toBeGreaterThan(50);
    expect(duplicated).toBe(0);
    reportFigures('hostile-auth', { cases, statuses });
  });
});
