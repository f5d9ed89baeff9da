import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuMs } from './processes';
import type { LoadSpec } from './scenarios';

// wrk (Debian package `wrk`, C and LuaJIT) as the load generator: `BENCH_LOADGEN=wrk npm run bench`. It runs in
// its own process, one thread, at 8–24 µs of CPU per response (autocannon, inside the bench process: 18–25 µs),
// so a server sharing the cores with it gives up little. A scenario that rebuilds its request per call
// (`setupRequest`: a new resource ID per request) gets its bodies generated here up front, one file per run, and
// wrk sends each at most once.

/** What one load run measured, whichever generator sent it (the fields of autocannon's result the bench reads). */
export interface LoadResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Seconds. */
  duration: number;
  latency: { p50: number; p99: number };
  /** CPU time (user + system) the load generator used during the run, in ms. */
  clientCpuMs?: number;
}

/** Requests per second wrk is assumed to reach at most when sizing per-request bodies (BENCH_WRK_MAX_RATE). */
const DEFAULT_MAX_RATE = 12_000;

let found: string | undefined;

/** The wrk binary (looked up once), or a clear error naming the package to install. */
export function wrkBinary(): string {
  try {
    found ??= execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim();
    return found;
  } catch {
    throw new Error('BENCH_LOADGEN=wrk needs the wrk binary: apt-get install wrk');
  }
}

/** A Lua long string holding `text` whatever it contains. */
function luaString(text: string): string {
  let eq = '';
  while (text.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[\n${text}]${eq}]`;
}

function luaHeaders(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([name, value]) => `[ ${luaString(name)} ] = ${luaString(value)}`)
    .join(', ');
}

/** Writes bodies as "<length>\n<bytes>" records, the format the Lua script reads. */
function writeBodies(file: string, spec: LoadSpec, count: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < count; i++) {
      const req = spec.setupRequest ? spec.setupRequest({ ...spec }, {}) : spec;
      const body = Buffer.from(String((req as LoadSpec).body ?? ''));
      fs.writeSync(fd, `${body.length}\n`);
      fs.writeSync(fd, body);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function script(spec: LoadSpec, bodiesFile: string | undefined): string {
  const method = spec.method ?? 'GET';
  const pathname = spec.path ?? '/';
  const headers = luaHeaders((spec.headers ?? {}) as Record<string, string>);
  const fixedBody = spec.body === undefined ? 'nil' : luaString(String(spec.body));
  return `
local method, path, headers = ${luaString(method)}, ${luaString(pathname)}, { ${headers} }
local requests = {}
local bodies_file = ${bodiesFile === undefined ? 'nil' : luaString(bodiesFile)}
-- Formatted in init: wrk sets the Host header just before calling it.
init = function(_)
if bodies_file then
  local f = assert(io.open(bodies_file, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    requests[#requests + 1] = wrk.format(method, path, headers, data:sub(nl + 1, nl + len))
    pos = nl + 1 + len
  end
else
  requests[1] = wrk.format(method, path, headers, ${fixedBody})
end
nbodies = bodies_file and #requests or 0
end
local i = 0
nbodies = 0
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function(summary, latency, _)
  local e, bodies = summary.errors, 0
  for _, t in ipairs(threads) do bodies = bodies + t:get("nbodies") end
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"bodies":%d}\\n', summary.requests, summary.duration,
    e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99), bodies))
end
`;
}

interface WrkSummary {
  requests: number;
  duration_us: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  bodies: number;
}

/**
 * Sends `spec` with wrk (one thread) over `connections` connections for `seconds`, and reads its summary. Per-request
 * bodies are made for `maxRate` requests per second (default BENCH_WRK_MAX_RATE): wrk formats them all before it
 * starts, on its own CPU, so a measured run is best given twice the rate its warm-up reached.
 */
export async function wrkLoad(
  baseUrl: string,
  spec: LoadSpec,
  connections: number,
  seconds: number,
  maxRate = Number(process.env.BENCH_WRK_MAX_RATE ?? DEFAULT_MAX_RATE),
): Promise<LoadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-wrk-'));
  try {
    const bodiesFile = spec.setupRequest ? path.join(dir, 'bodies.bin') : undefined;
    if (bodiesFile) writeBodies(bodiesFile, spec, Math.ceil(maxRate * seconds));
    const scriptFile = path.join(dir, 'load.lua');
    fs.writeFileSync(scriptFile, script(spec, bodiesFile));
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '30s', '-s', scriptFile, baseUrl];
    const child = spawn(wrkBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lastCpu: number | undefined;
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    // /proc/<pid>/stat disappears at exit: sample the client's CPU until then (the last sample is ≤ 100 ms old).
    const sampler = setInterval(() => (lastCpu = cpuMs(child.pid as number) ?? lastCpu), 100);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(sampler);
    const line = /^WRKJSON (.+)$/m.exec(out);
    if (code !== 0 || !line) throw new Error(`wrk exited with ${code}:\n${out}`);
    const s = JSON.parse(line[1] as string) as WrkSummary;
    if (bodiesFile && s.requests > s.bodies) {
      throw new Error(`wrk sent ${s.requests} requests but had ${s.bodies} bodies: the load outran the warm-up's rate`);
    }
    return {
      '2xx': s.requests - s.status,
      non2xx: s.status,
      errors: s.connect + s.read + s.write,
      timeouts: s.timeout,
      duration: s.duration_us / 1e6,
      latency: { p50: s.p50_us / 1000, p99: s.p99_us / 1000 },
      clientCpuMs: lastCpu,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
