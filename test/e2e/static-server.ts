import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/** One request the static server saw. */
export interface StaticRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

/** A loopback HTTP server for a folder of HLS or DASH output (the "CDN" in the end-to-end tests). */
export interface StaticServer {
  baseUrl: string;
  requests: StaticRequest[];
  close: () => Promise<void>;
}

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.key': 'application/octet-stream',
  '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

function resolveInside(root: string, url: string): string | undefined {
  const pathname = decodeURIComponent(new URL(url, 'http://x').pathname);
  const file = path.resolve(root, `.${pathname}`);
  return file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

/** Serves `root` read-only on 127.0.0.1 and records every request. */
export async function startStaticServer(root: string): Promise<StaticServer> {
  const requests: StaticRequest[] = [];
  const dir = path.resolve(root);
  const server = http.createServer((req, res) => {
    const file = req.method === 'GET' ? resolveInside(dir, req.url ?? '/') : undefined;
    const status = file ? 200 : 404;
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, status });
    if (!file) return void res.writeHead(404).end();
    const body = fs.readFileSync(file);
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': body.length,
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { baseUrl: `http://127.0.0.1:${port}`, requests, close };
}
