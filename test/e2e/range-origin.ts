import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serveHlsFile } from './hls-player';

/** One request the origin saw: enough to tell whole-file from byte-range fetches. */
export interface OriginRequest {
  url: string;
  range?: string;
  status: number;
}

/** A loopback HLS origin that honours single `Range: bytes=a-b` requests (206), plus the hls.js player page. */
export interface RangeOrigin {
  baseUrl: string;
  requests: OriginRequest[];
  close: () => Promise<void>;
}

function rangeOf(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d+)-(\d+)$/.exec(header ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Math.min(Number(m[2]), size - 1);
  return start <= end ? { start, end } : undefined;
}

/** Serves `root` (and `/player.html`, `/hls.js`) on 127.0.0.1:`port` with `Access-Control-Allow-Origin: *`. */
export async function startRangeOrigin(root: string, port = 0): Promise<RangeOrigin> {
  const requests: OriginRequest[] = [];
  const server = http.createServer((req, res) => {
    const found = req.method === 'GET' ? serveHlsFile(root, req.url ?? '/') : { status: 404 };
    res.setHeader('Access-Control-Allow-Origin', '*');
    const range = found.body && rangeOf(req.headers.range, found.body.length);
    const status = found.body ? (range ? 206 : 200) : found.status;
    requests.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), status });
    if (!found.body) return void res.writeHead(found.status).end();
    const body = range ? found.body.subarray(range.start, range.end + 1) : found.body;
    res.writeHead(status, {
      'Content-Type': found.type as string,
      'Content-Length': body.length,
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${found.body.length}` } : {}),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close };
}

/** Writes `text` to `root/rel`, creating folders. */
export function writeFile(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}
