import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LoopbackClient, type HttpResult } from '../helpers/http-client';
import { reportFigures } from '../helpers/report';
import { createApiKey, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { ADMIN_KEY } from '../helpers/test-app';

// "Hostile callers: routes, revocation, abuse limits" against two real server processes sharing one
// data dir (one SQLite file): other spellings of delivery routes, the audit of every refusal, token
// revocation across processes, the per-IP abuse limit, and an unauthenticated flood against the audit
// trail. Figures go to docs/reliability.md. No timing assertions.

const SIGNING = `k1:${crypto.randomBytes(32).toString('base64')}`;
const LINK = { clientId: '2675', secret: 'hostile-routes-secret-0123' };
const RESOURCE = 'hostile-routes-vod';
const LIMIT = 30;

let dir: string;
let a: ServerProcess;
let b: ServerProcess;
let ca: LoopbackClient;
let cb: LoopbackClient;
let kid = '';
const figures: Record<string, unknown> = {};

const json = (res: HttpResult) => JSON.parse(res.body.toString('utf8') || '{}') as Record<string, unknown>;
const from = (ip: string, headers: Record<string, string> = {}) => ({ 'x-forwarded-for': ip, ...headers });
const admin = { 'x-api-key': ADMIN_KEY };

async function mint(client: LoopbackClient): Promise<{ token: string; jti: string }> {
  const res = await client.send({
    method: 'POST',
    path: '/playback-tokens',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
  const token = json(res).token as string;
  const jti = (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti;
  return { token, jti };
}

function secureLink(expires: number): string {
  const sig = crypto
    .createHmac('sha256', LINK.secret)
    .update(`${LINK.clientId}_${RESOURCE}_${expires}_`)
    .digest('base64url');
  return `/secure/${LINK.clientId}_${RESOURCE}/${sig}/${expires}/keys/${kid}`;
}

/** Audit rows in the shared audit file, read directly (read-only). */
function auditRows(where = '1 = 1', ...args: unknown[]): number {
  const db = new Database(path.join(dir, 'keyplane-audit.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM audit WHERE ${where}`).get(...args) as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-hostile-routes-'));
  const env = {
    KEYPLANE_TOKEN_SIGNING_KEYS: SIGNING,
    KEYPLANE_TOKEN_MAX_TTL_SECONDS: '3600',
    KEYPLANE_SECURE_TOKEN_CLIENT_ID: LINK.clientId,
    KEYPLANE_SECURE_TOKEN_SECRET: LINK.secret,
    KEYPLANE_SECURE_TOKEN_ALGORITHM: 'hmac-sha256',
    KEYPLANE_ORIGIN_URL: 'http://127.0.0.1:9/vod/{resourceId}',
    KEYPLANE_TRUSTED_PROXIES: 'loopback',
    KEYPLANE_RATE_LIMIT_FAILED_AUTH: String(LIMIT),
  };
  a = await startServerProcess(dir, env);
  b = await startServerProcess(dir, env);
  ca = new LoopbackClient(a.port, 8);
  cb = new LoopbackClient(b.port, 8);
  const created = await ca.send({
    method: 'POST',
    path: '/static-keys',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceId: RESOURCE }),
  });
  kid = json(created).kid as string;
}, 120_000);

afterAll(async () => {
  ca?.close();
  cb?.close();
  await a?.kill('SIGTERM');
  await b?.kill('SIGTERM');
  reportFigures('hostile-routes', figures);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('hostile callers: routes, revocation, abuse limits', () => {
  it('1. answers no other spelling of a delivery route with a key', async () => {
    const proxy = await createApiKey(a.port, 'proxy', ['keyserver']);
    const { token } = await mint(ca);
    const routes: Array<[string, string, Record<string, string>]> = [
      ['GET', `/keys/${RESOURCE}/${kid}`, { 'x-api-key': proxy }],
      ['GET', `/playback/${token}/keys/${RESOURCE}/${kid}`, {}],
      ['GET', secureLink(Math.floor(Date.now() / 1000) + 600), {}],
      ['GET', `/static-keys/${RESOURCE}`, admin],
    ];
    const statuses: Record<string, number> = {};
    let spellings = 0;
    for (const [method, p, headers] of routes) {
      expect((await ca.send({ method, path: p, headers: from('10.1.0.1', headers) })).status).toBe(200);
      const first = p.split('/')[1] as string;
      const variants = [
        `${p}/`,
        `/${p}`,
        p.replace(`/${first}`, `/${first.toUpperCase()}`),
        p.replace(`/${first}`, `/${first[0]?.toUpperCase()}${first.slice(1)}`),
        p.replace(`/${first[0]}`, `/%${first.charCodeAt(0).toString(16)}`),
        p.replace('/keys/', '/KEYS/'),
      ].filter((v) => v !== p);
      for (const v of variants) {
        const res = await ca.send({ method, path: v, headers: from('10.1.0.1', headers) });
        spellings += 1;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        expect([v, res.status === 200]).toEqual([v, false]);
      }
    }
    figures.exactRoutes = { spellings, statuses };
    expect(Object.keys(statuses).every((s) => s === '404' || s === '401')).toBe(true);
  });

  it('2. audits every refusal on a delivery route, with its principal when known', async () => {
    const before = auditRows("outcome = 'denied'");
    const other = await mint(ca);
    const sent: Array<[string, string, Record<string, string>]> = [
      ['GET', `/keys/${RESOURCE}/${kid}`, {}],
      ['GET', `/keys/${RESOURCE}/${crypto.randomUUID()}`, admin],
      ['GET', `/keys/${RESOURCE}/not-a-kid`, admin],
      ['GET', `/playback/${other.token}x/keys/${RESOURCE}/${kid}`, {}],
      ['GET', `/playback/${other.token}/keys/${RESOURCE}/${crypto.randomUUID()}`, {}],
      ['GET', `/secure/${LINK.clientId}_${RESOURCE}/${'A'.repeat(43)}/9999999999/keys/${kid}`, {}],
      ['GET', `/playback/${other.token}x/hls/${RESOURCE}/index.m3u8`, {}],
      ['GET', '/static-keys/no-such-vod', admin],
      ['POST', '/clearkey/license', {}],
    ];
    let i = 0;
    for (const [method, p, headers] of sent) {
      i += 1;
      const res = await cb.send({
        method,
        path: p,
        headers: from(`10.2.0.${i}`, { ...headers, 'content-type': 'application/json' }),
        body: method === 'POST' ? '{"kids":[]}' : undefined,
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    const recorded = auditRows("outcome = 'denied'") - before;
    const withPrincipal = auditRows("outcome = 'denied' AND client_ip LIKE '10.2.0.%' AND principal IS NOT NULL");
    figures.refusalAudit = { refusals: sent.length, recorded, withPrincipal };
    expect(recorded).toBe(sent.length);
  });

  it('3. a token revoked on one process is refused by the other at once', async () => {
    const { token, jti } = await mint(ca);
    const use = () =>
      cb.send({ method: 'GET', path: `/playback/${token}/keys/${RESOURCE}/${kid}`, headers: from('10.3.0.1') });
    expect((await use()).status).toBe(200);
    const started = Date.now();
    const revoked = await ca.send({ method: 'DELETE', path: `/playback-tokens/${jti}`, headers: admin });
    expect(revoked.status).toBe(204);
    const refused = await use();
    figures.revocation = {
      revokeStatus: revoked.status,
      nextUse: refused.status,
      reason: json(refused).reason,
      ms: Date.now() - started,
    };
    expect([refused.status, json(refused).reason]).toEqual([401, 'token_revoked']);
  });

  it('4. limits brute force per address, never a legitimate caller at full speed', async () => {
    const brute: Record<string, number> = {};
    let firstLimited = 0;
    for (let i = 1; i <= 200; i += 1) {
      const res = await ca.send({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: from('10.4.0.1', { 'x-api-key': `kp_${crypto.randomBytes(12).toString('hex')}` }),
      });
      brute[res.status] = (brute[res.status] ?? 0) + 1;
      if (res.status === 429 && firstLimited === 0) firstLimited = i;
    }
    expect(firstLimited).toBe(LIMIT + 1);
    const proxy = await createApiKey(a.port, 'busy-proxy', ['keyserver']);
    const legit: Record<string, number> = {};
    const started = Date.now();
    const one = async () => {
      const res = await ca.send({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: from('10.4.0.2', { 'x-api-key': proxy }),
      });
      legit[res.status] = (legit[res.status] ?? 0) + 1;
    };
    for (let i = 0; i < 625; i += 1) await Promise.all(Array.from({ length: 8 }, one));
    const ms = Date.now() - started;
    figures.rateLimits = { brute, firstLimited, legit, legitPerSecond: Math.round(5000 / (ms / 1000)) };
    expect(legit).toEqual({ 200: 5000 });
  });

  it('5. an unauthenticated flood writes a bounded number of audit records', async () => {
    const before = auditRows();
    let i = 0;
    const one = async () => {
      i += 1;
      await cb.send({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: from(`10.5.${(i % 200) >> 8}.${i % 200}`, { 'x-api-key': `kp_flood${i}` }),
      });
    };
    for (let k = 0; k < 1250; k += 1) await Promise.all(Array.from({ length: 8 }, one));
    const flood = auditRows() - before;
    const encoder = await createApiKey(a.port, 'encoder-x', ['encoder']);
    const beforeAuth = auditRows();
    for (let k = 0; k < 100; k += 1) {
      await cb.send({
        method: 'GET',
        path: `/static-keys/${RESOURCE}`,
        headers: from('10.5.9.9', { 'x-api-key': encoder }),
      });
    }
    const authenticated = auditRows() - beforeAuth;
    figures.auditFlood = {
      requests: 10_000,
      addresses: 200,
      records: flood,
      authenticatedRefusals: 100,
      authenticatedRecords: authenticated,
    };
    expect(flood).toBeLessThanOrEqual(4 * 200);
    expect(authenticated).toBe(100);
  });
});
