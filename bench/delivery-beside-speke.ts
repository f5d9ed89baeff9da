/**
 * Key delivery beside SPEKE load: `keyplane serve --workers N` takes SPEKE v1 requests for new resources
 * (autocannon, BENCH_CONNECTIONS connections, BENCH_DURATION s) while a probe fetches one key every 2 ms;
 * reports SPEKE req/s and the probe's latency. With BENCH_SLOW_FSYNC_US, every fsync of the server first
 * sleeps that long (bench/native/slow-fsync.c, built with the machine's cc and LD_PRELOADed), as on a slower
 * disk: what a commit's fsync in the event loop costs the requests beside it.
 *
 *   npm run bench:beside   (BENCH_WORKERS=2, BENCH_SLOW_FSYNC_US, BENCH_CONNECTIONS=32, BENCH_DURATION=10)
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ROOT, startKeyplane } from './processes';

const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const SLOW_FSYNC_US = process.env.BENCH_SLOW_FSYNC_US;
const ADMIN_KEY = `bench-beside-${crypto.randomBytes(16).toString('hex')}`;
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';

const cpix = (resourceId: string, kid: string) =>
  `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="${kid}"/>` +
  `</cpix:ContentKeyList><cpix:DRMSystemList><cpix:DRMSystem kid="${kid}" systemId="${HLS_AES128}"><cpix:URIExtXKey/>` +
  `</cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`;

/** Builds the fsync shim into a temp dir; its path for LD_PRELOAD. */
function slowFsyncLibrary(): string {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-slow-fsync-')), 'slow-fsync.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', out, path.join(ROOT, 'bench/native/slow-fsync.c'), '-ldl']);
  return out;
}

async function main(): Promise<void> {
  const env: Record<string, string> = SLOW_FSYNC_US ? { LD_PRELOAD: slowFsyncLibrary(), SLOW_FSYNC_US } : {};
  const server = await startKeyplane({ adminKey: ADMIN_KEY, env, workers: WORKERS });
  try {
    const base = server.baseUrl;
    const apiKey = async (roles: string[]) => {
      const res = await fetch(`${base}/api-keys`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ name: roles[0], roles }),
      });
      return ((await res.json()) as { key: string }).key;
    };
    const [encoder, keyserver] = [await apiKey(['encoder']), await apiKey(['keyserver'])];
    const kid = crypto.randomUUID();
    const issued = await fetch(`${base}/copyProtection`, {
      method: 'POST',
      headers: { 'x-api-key': encoder, 'content-type': 'application/xml' },
      body: cpix('probe', kid),
    });
    if (issued.status !== 200) throw new Error(`issuing the probe's key: HTTP ${issued.status}`);
    let running = true;
    const latencies: number[] = [];
    const probe = (async () => {
      while (running) {
        const started = process.hrtime.bigint();
        const res = await fetch(`${base}/keys/probe/${kid}`, { headers: { 'x-api-key': keyserver } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`probe: HTTP ${res.status}`);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const load = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          method: 'POST',
          path: '/copyProtection',
          headers: { 'x-api-key': encoder, 'content-type': 'application/xml' },
          setupRequest: (req) => ({ ...req, body: cpix(`beside-${crypto.randomUUID()}`, crypto.randomUUID()) }),
        },
      ],
    });
    running = false;
    await probe;
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0).toFixed(1);
    const disk = SLOW_FSYNC_US ? `fsync + ${SLOW_FSYNC_US} µs` : 'this disk';
    process.stdout.write(
      `workers ${WORKERS}, ${disk}: SPEKE v1 ${Math.round(load.requests.average)} req/s (non-2xx ${load.non2xx}); ` +
        `delivery probe n=${latencies.length} p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms\n`,
    );
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
