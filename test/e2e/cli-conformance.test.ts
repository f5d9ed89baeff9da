import crypto from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import { NS } from '../../src/cpix/namespaces';
import { fillContentKey } from '../../src/cpix/fill-cpix';
import { parseXml } from '../../src/cpix/xml-parse';
import { serializeXml } from '../../src/cpix/xml-serialize';
import { childElements, type XmlElement } from '../../src/cpix/xml-tree';
import { SHARED } from '../helpers/paths';
import { runCli, runCliJson, serveKeyplane, type ServeProcess } from './cli-process';

// `keyplane conformance` as CI runs it: the full SPEKE v1 + v2 battery against a real `keyplane serve`, and against a
// deliberately broken key provider, which must fail and be named.

interface Report {
  target: string;
  summary: { total: number; passed: number; failed: number; skipped: number };
  checks: Array<{ name: string; category: string; status: string; detail: string }>;
}

const ADMIN_KEY = `conf-admin-${crypto.randomBytes(12).toString('hex')}`;

let kp: ServeProcess;
let encoder: Record<string, string>;
let report: Report;
let exitCode: number | null;

beforeAll(async () => {
  kp = await serveKeyplane(ADMIN_KEY);
  const { key } = await runCliJson<{ key: string }>(
    ['api-key', 'create', '--name', 'conformance', '--roles', 'encoder'],
    {
      KEYPLANE_URL: kp.url,
      KEYPLANE_API_KEY: ADMIN_KEY,
    },
  );
  encoder = { KEYPLANE_URL: kp.url, KEYPLANE_API_KEY: key };
  const run = await runCli(['conformance', '--v1', '--v2', '--json'], encoder);
  exitCode = run.code;
  report = JSON.parse(run.stdout) as Report;
});

afterAll(async () => {
  await kp?.stop();
});

const failures = (r: Report) => r.checks.filter((c) => c.status === 'fail');

describe('conformance against Keyplane', () => {
  it('runs the whole battery: every preset, every DRM system, negatives, encryption and XSD checks', () => {
    const names = report.checks.map((c) => c.name);
    expect(report.target).toBe(`${kp.url}/copyProtection`);
    expect(names.filter((n) => n.startsWith('v2.preset.'))).toHaveLength(36);
    for (const drm of ['hls-aes128', 'fairplay', 'widevine', 'playready', 'clearkey', 'common-pssh']) {
      expect(names).toEqual(expect.arrayContaining([`v1.drm.${drm}`, `v2.drm.${drm}`]));
    }
    expect(names).toEqual(
      expect.arrayContaining(['v1.key-stability', 'v2.version-header', 'v2.xsd-valid', 'v2.reject.missing-content-id']),
    );
    expect(names.filter((n) => n.startsWith('v21.timing.')).sort()).toEqual(
      [
        'v21.timing.INDEX_ONLY',
        'v21.timing.INDEX_WITH_START_END',
        'v21.timing.INDEX_WITH_START_END.vod',
        'v21.timing.START_END_ONLY',
        'v21.timing.START_END_ONLY.vod',
        'v21.timing.split',
        'v21.timing.xsd-valid',
      ].sort(),
    );
    expect(new Set(report.checks.map((c) => c.category))).toEqual(
      new Set(['transport', 'drm', 'contract', 'keys', 'negative', 'encryption', 'schema']),
    );
  });

  it('passes every check and exits 0; xmllint and the XSDs are present, so nothing is skipped', () => {
    expect(failures(report)).toEqual([]);
    expect(report.checks.filter((c) => c.status === 'skip')).toEqual([]);
    expect(exitCode).toBe(0);
    expect(report.summary).toEqual({
      total: report.checks.length,
      passed: report.checks.length,
      failed: 0,
      skipped: 0,
    });
  });

  it('reports the AWS messages of v2 contract errors and the source of the delivery certificate', () => {
    const detail = (name: string) => report.checks.find((c) => c.name === name)?.detail;
    expect(detail('v2.reject.missing-content-id')).toBe('HTTP 422 "Missing CPIX@contentId"');
    expect(detail('v2.reject.unsupported-speke-version')).toBe('HTTP 422 "Unsupported SPEKE version"');
    expect(detail('v1.encrypted-response')).toBe('1 key(s) decrypted, MACs verified (repository test certificate)');
  });

  it('prints a table with a progress line per check, and exits 4 on rejected credentials', async () => {
    const run = await runCli(['conformance', '--v2', '--only', 'v2.version-header,v2.xsd-valid'], encoder);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^RESULT +CHECK +CATEGORY +DETAIL$/m);
    expect(run.stdout).toMatch(/^PASS +v2\.version-header +transport +2\.0$/m);
    expect(run.stdout).toContain('2 passed, 0 failed, 0 skipped (2 checks)');
    expect(run.stderr).toContain('[1/2] pass v2.version-header');
    const rejected = await runCli(['conformance', '--v1', '--url', kp.url, '--api-key', 'kp_wrong']);
    expect(rejected.code).toBe(4);
  });

  it('skips the XSD checks with the reason when xmllint is missing', async () => {
    const run = await runCli(
      ['conformance', '--v2', '--only', 'xsd-valid', '--xmllint', '/nonexistent/xmllint', '--json'],
      encoder,
    );
    const checks = (JSON.parse(run.stdout) as Report).checks;
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['v2.xsd-valid', 'skip'],
      ['v21.timing.xsd-valid', 'skip'],
      ['v2.encrypted-xsd-valid', 'skip'],
    ]);
    expect(checks[0]?.detail).toContain('xmllint not found');
  });

  it('finds the XSDs the way the tests do: KEYPLANE_SHARED_DIR/docs/xsd without KEYPLANE_XSD_DIR', async () => {
    const only = ['conformance', '--v2', '--only', 'v2.xsd-valid', '--json'];
    const viaShared = await runCli(only, { ...encoder, KEYPLANE_XSD_DIR: '', KEYPLANE_SHARED_DIR: SHARED });
    expect((JSON.parse(viaShared.stdout) as Report).checks.map((c) => c.status)).toEqual(['pass']);
    const nowhere = await runCli(only, { ...encoder, KEYPLANE_XSD_DIR: '', KEYPLANE_SHARED_DIR: '/nonexistent' });
    const detail = (JSON.parse(nowhere.stdout) as Report).checks[0]?.detail;
    expect(detail).toContain('no CPIX XSD at /nonexistent/docs/xsd/cpix-2.3/cpix.xsd');
  });
});

/** A key provider that answers everything with 200 and fresh random keys: no signalling, no SPEKE headers. */
function startBrokenProvider(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.post('/copyProtection', express.text({ type: () => true }), (req, res) => {
    const root = parseXml(String(req.body));
    const lists = childElements(root, NS.cpix, 'ContentKeyList');
    for (const ck of lists.flatMap((l) => childElements(l, NS.cpix, 'ContentKey'))) {
      fillContentKey(root, ck as XmlElement, { key: crypto.randomBytes(16), iv: crypto.randomBytes(16) });
    }
    res.type('application/xml').send(serializeXml(root));
  });
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(200).type('application/xml').send('<ok/>');
  });
  return new Promise((resolve) => {
    const server: Server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

describe('conformance against a broken key provider', () => {
  it('exits 1 and names the failed checks: unstable keys, no X-Speke-Version, accepted invalid documents', async () => {
    const broken = await startBrokenProvider();
    try {
      const run = await runCli(['conformance', '--url', broken.url, '--drm', 'hls-aes128,widevine', '--json']);
      expect(run.code).toBe(1);
      const result = JSON.parse(run.stdout) as Report;
      const status = Object.fromEntries(result.checks.map((c) => [c.name, c.status]));
      expect(status).toMatchObject({
        'v1.content-type': 'pass',
        'v1.key-stability': 'fail',
        'v2.key-stability': 'fail',
        'v2.version-header': 'fail',
        'v1.user-agent-header': 'fail',
        'v1.drm.widevine': 'fail',
        'v1.reject.missing-cpix-id': 'fail',
        'v2.reject.malformed-xml': 'fail',
        'v21.timing.START_END_ONLY': 'fail',
        'v21.timing.split': 'fail',
      });
      const detail = (name: string) => result.checks.find((c) => c.name === name)?.detail;
      expect(detail('v2.version-header')).toBe('no X-Speke-Version header in the response');
      expect(detail('v1.key-stability')).toMatch(
        /^KID [0-9a-f-]{36} got a different key when the same request was sent again$/,
      );
      expect(run.stderr).toMatch(/conformance checks failed: .*v1\.key-stability.*v2\.version-header/);
    } finally {
      await broken.close();
    }
  });
});
