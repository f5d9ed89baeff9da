import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { buildPssh } from '../../src/drm/pssh';
import { encodeWidevinePsshData } from '../../src/drm/widevine';
import { runCli, serveKeyplane, type ServeProcess } from './cli-process';

// `keyplane conformance --only wv-api --widevine-signer …`: the Widevine Common Encryption API checks pass against a
// real `keyplane serve` with that signer configured, and fail, by name, against a provider that hands a key to
// anyone, new keys every time, no crypto periods and no pssh_data lookups.

interface Report {
  checks: Array<{ name: string; status: string; detail: string }>;
}

const ADMIN_KEY = `conf-admin-${crypto.randomBytes(12).toString('hex')}`;
const KEY = crypto.randomBytes(32).toString('hex');
const IV = crypto.randomBytes(16).toString('hex');
const CHECKS = [
  'wv-api.keys',
  'wv-api.stability',
  'wv-api.rotation',
  'wv-api.pssh-data',
  'wv-api.reject.unsigned',
  'wv-api.reject.bad-signature',
  'wv-api.reject.unknown-track',
  'wv-api.reject.malformed',
];

let kp: ServeProcess;
let broken: http.Server;
let brokenUrl: string;

/** Answers every request, signed or not, with fresh random keys and valid-looking Widevine pssh boxes. */
function brokenProvider(req: http.IncomingMessage, res: http.ServerResponse): void {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString('utf8')));
  req.on('end', () => {
    let tracks: Array<{ type: string }> = [{ type: 'SD' }];
    try {
      const outer = JSON.parse(body) as { request: string };
      const inner = JSON.parse(Buffer.from(outer.request, 'base64').toString('utf8')) as { tracks?: typeof tracks };
      tracks = inner.tracks ?? tracks;
    } catch {
      // answer anyway
    }
    const answer = tracks.map((t) => {
      const kid = crypto.randomBytes(16);
      const data = encodeWidevinePsshData({ keyIds: [kid] });
      const boxes = buildPssh({ systemId: SYSTEM_IDS.widevine, data, version: 0 });
      const b64 = (b: Buffer) => b.toString('base64');
      return {
        type: t.type,
        key_id: b64(kid),
        key: b64(crypto.randomBytes(16)),
        pssh: [{ data: b64(data), boxes: b64(boxes) }],
      };
    });
    const response = Buffer.from(JSON.stringify({ status: 'OK', tracks: answer })).toString('base64');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response }));
  });
}

async function conformance(url: string): Promise<{ code: number | null; report: Report }> {
  const run = await runCli([
    'conformance',
    '--url',
    url,
    '--only',
    'wv-api',
    '--widevine-signer',
    `conf:${KEY}:${IV}`,
    '--json',
  ]);
  return { code: run.code, report: JSON.parse(run.stdout) as Report };
}

beforeAll(async () => {
  kp = await serveKeyplane(ADMIN_KEY, {
    KEYPLANE_WIDEVINE_SIGNERS: `conf:${KEY}:${IV}`,
    KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
  });
  broken = http.createServer(brokenProvider);
  await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
  brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await kp?.stop();
  await new Promise((resolve) => broken?.close(resolve));
});

it('every Widevine API check passes against keyplane serve with the signer configured', async () => {
  const { code, report } = await conformance(kp.url);
  expect(report.checks.map((c) => c.name)).toEqual(CHECKS);
  expect(report.checks.filter((c) => c.status !== 'pass')).toEqual([]);
  expect(code).toBe(0);
});

it('a provider that gives anyone fresh keys fails stability, rotation, pssh-data and every refusal, by name', async () => {
  const { code, report } = await conformance(brokenUrl);
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  // It answers well-formed keys (wv-api.keys passes) but ignores signatures, tracks and crypto periods.
  expect(failed).toEqual(CHECKS.filter((n) => n !== 'wv-api.keys'));
  expect(code).toBe(1);
});
