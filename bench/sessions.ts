/**
 * Session-level encryption benchmark: segment delivery through a session (verify the id, audit, fetch
 * from the origin, AES-128-CBC on the way out) vs the same segments proxied without encryption (the same
 * streaming origin fetch, piped as is), in MB/s; and the cost of opening a session. One process: origin,
 * Keyplane, the plain proxy and the client share it (and the machine's 2 cores), so read the ratio.
 *
 *   npm run bench:sessions   (BENCH_SEGMENT_MIB, BENCH_SEGMENTS, BENCH_CONCURRENCY, BENCH_OPENS)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pino from 'pino';
import { SessionIds } from '../src/auth/session-ids';
import { createApp } from '../src/compose/app';
import { buildDeps, localBackends } from '../src/compose/services';
import { loadConfig } from '../src/config';
import { fetchSegment } from '../src/hls/origin-segment';

const SEGMENT_MIB = Number(process.env.BENCH_SEGMENT_MIB ?? 2);
const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const OPENS = Number(process.env.BENCH_OPENS ?? 1000);
const LIMITS = { headersTimeoutMs: 5000, timeoutMs: 60_000, maxBytes: 64 * 1024 * 1024 };

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Fetches `urls` (cycled) `count` times with `concurrency` in flight; bytes and seconds. */
async function drive(urls: () => string, count: number, concurrency: number, headers: Record<string, string> = {}) {
  let left = count;
  let bytes = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const res = await fetch(urls(), { headers });
        if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
        bytes += (await res.arrayBuffer()).byteLength;
      }
    }),
  );
  return { bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function main(): Promise<void> {
  const segment = crypto.randomBytes(SEGMENT_MIB * 1024 * 1024);
  const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:4\n${'#EXTINF:4,\nseg.ts\n'.repeat(10)}#EXT-X-ENDLIST\n`;
  const origin = await serve((req, res) => {
    const body = req.url?.endsWith('.m3u8') ? Buffer.from(playlist) : segment;
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  const proxy = await serve((req, res) => {
    void fetchSegment(new URL(`${origin.url}/vod/bench/seg.ts`), undefined, LIMITS).then((s) => {
      res.writeHead(200, { 'Content-Length': s.length ?? 0 });
      return pipeline(s.body, res);
    });
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-sessions-'));
  const env = {
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_ADMIN_KEY: `bench-${crypto.randomBytes(16).toString('hex')}`,
    KEYPLANE_ORIGIN_URL: `${origin.url}/vod/{resourceId}/`,
  };
  const config = loadConfig(env);
  const deps = buildDeps(config, localBackends(config), { logger: pino({ level: 'silent' }) });
  const keyserver = (await deps.apiKeys.create('bench', ['keyserver'])).key;
  const kp = await serve(createApp(deps));
  const openUrl = `${kp.url}/sessions/hls/bench/index.m3u8`;
  const opened = await (await fetch(openUrl, { headers: { 'x-api-key': keyserver } })).text();
  const sessionSegment = (opened.split('\n').find((l) => l.startsWith('http')) as string).replace(
    config.publicUrl,
    kp.url,
  );

  await drive(() => sessionSegment, 20, CONCURRENCY); // warm-up
  await drive(() => `${proxy.url}/seg.ts`, 20, CONCURRENCY);
  const plain = await drive(() => `${proxy.url}/seg.ts`, SEGMENTS, CONCURRENCY);
  const session = await drive(() => sessionSegment, SEGMENTS, CONCURRENCY);
  const opens = await drive(() => openUrl, OPENS, CONCURRENCY, { 'x-api-key': keyserver });
  const ids = new SessionIds(crypto.randomBytes(32), 3600);
  const n = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const { id } = ids.open({ resourceId: 'bench', tenant: 'default' });
    ids.key(ids.verify(id) && id);
  }
  const cryptoUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;

  const mbps = (r: { bytes: number; seconds: number }) => r.bytes / 1e6 / r.seconds;
  console.log(
    `segments: ${SEGMENTS} × ${SEGMENT_MIB} MiB, ${CONCURRENCY} in flight; Node ${process.version}; nproc ${os.cpus().length}`,
  );
  console.log(`| Path | MB/s | vs plain proxy |`);
  console.log(`|---|---:|---:|`);
  console.log(`| Plain proxy (same streaming origin fetch, no encryption) | ${mbps(plain).toFixed(0)} | 1.00× |`);
  console.log(
    `| Session segment (verify id, audit, AES-128-CBC) | ${mbps(session).toFixed(0)} | ${(mbps(session) / mbps(plain)).toFixed(2)}× |`,
  );
  console.log(
    `session opens: ${(OPENS / opens.seconds).toFixed(0)}/s (${((opens.seconds * 1000 * CONCURRENCY) / OPENS).toFixed(2)} ms each, ` +
      `origin playlist fetch + rewrite + audit write); id mint + verify + key derivation alone: ${cryptoUs.toFixed(1)} µs`,
  );
  for (const s of [origin.server, proxy.server, kp.server]) {
    s.closeAllConnections();
    s.close();
  }
  await deps.store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
