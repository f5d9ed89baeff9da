/**
 * CPIX by GET next to its baseline in one run: one in-process app (SQLite, local cipher), 100 keys issued
 * once, then sequential rounds of `GET /cpix/{resourceId}` (100 KIDs x Widevine, PlayReady, ClearKey,
 * Common PSSH: 400 DRMSystems, plaintext; and the same encrypted to the test certificate) and of the SPEKE v1
 * re-request of the same 100 KIDs (the baseline: the other way to read these keys again).
 *   npx tsc -p bench/tsconfig.json && node dist/bench/cpix-get.js [rounds]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createApp } from '../src/compose/app';
import { buildDeps, localBackends } from '../src/compose/services';
import { loadConfig } from '../src/config';

const ROUNDS = Number(process.argv[2] ?? 200);

function hlsRequest(resourceId: string, kids: string[]): string {
  const keys = kids.map((k) => `<cpix:ContentKey kid="${k}"/>`).join('');
  const drm = kids
    .map(
      (k) =>
        `<cpix:DRMSystem kid="${k}" systemId="81376844-f976-481e-a84e-cc25d39b0b33"><cpix:URIExtXKey/></cpix:DRMSystem>`,
    )
    .join('');
  return (
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">` +
    `<cpix:ContentKeyList>${keys}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList></cpix:CPIX>`
  );
}

async function timed(label: string, send: () => Promise<Response>): Promise<void> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const start = process.hrtime.bigint();
    const res = await send();
    const body = await res.text();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status} ${body.slice(0, 200)}`);
    bytes = body.length;
  }
  ms.sort((a, b) => a - b);
  const pick = (q: number) => (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] as number).toFixed(1);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  console.log(
    `| ${label} | ${ROUNDS} | ${mean.toFixed(1)} | ${pick(0.5)} | ${pick(0.99)} | ${(1000 / mean).toFixed(0)} | ${bytes} |`,
  );
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-cpix-'));
  const config = loadConfig({ KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: crypto.randomBytes(24).toString('hex') });
  const deps = buildDeps(config, localBackends(config), { logger: pino({ level: 'silent' }) });
  const key = (await deps.apiKeys.create('bench', ['encoder'])).key;
  const server = createApp(deps).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = { Authorization: `Bearer ${key}` };
  const rid = `bench-${crypto.randomUUID()}`;
  const kids = Array.from({ length: 100 }, () => crypto.randomUUID());
  const speke = () =>
    fetch(`${base}/copyProtection`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/xml' },
      body: hlsRequest(rid, kids),
    });
  await speke();
  const cert = new crypto.X509Certificate(fs.readFileSync('test/fixtures/certs/delivery.pem')).raw.toString('base64');
  const url = `${base}/cpix/${rid}?kid=${kids.join(',')}&drm=widevine,playready,clearkey,common-pssh`;
  console.log(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  console.log('| scenario | rounds | mean ms | p50 ms | p99 ms | req/s (sequential) | response bytes |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  await timed('baseline: SPEKE v1 re-request, 100 KIDs, HLS AES-128', speke);
  await timed('GET /cpix, 100 KIDs x 4 PSSH systems, plaintext', () =>
    fetch(`${url}&plaintext=true`, { headers: auth }),
  );
  await timed('GET /cpix, 100 KIDs x 4 PSSH systems, encrypted', () =>
    fetch(url, { headers: { ...auth, 'X-Cpix-Delivery-Certificate': cert } }),
  );
  server.close();
  await deps.store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

void main();
