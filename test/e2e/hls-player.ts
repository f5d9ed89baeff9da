import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { ROOT } from '../helpers/paths';

/** hls.js's browser build, served from loopback (no CDN). */
export const HLS_JS = path.join(ROOT, 'node_modules/hls.js/dist/hls.min.js');

/** A page that plays `?src=` with hls.js and exposes what happened as `window.playback`. */
export const PLAYER_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>hls.js</title></head>
<body>
<video id="v" muted playsinline></video>
<script src="/hls.js"></script>
<script>
  window.playback = { errors: [], fatal: null };
  const video = document.getElementById('v');
  const hls = new Hls({ enableWorker: false, manifestLoadingMaxRetry: 0, keyLoadingMaxRetry: 0, fragLoadingMaxRetry: 1 });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    window.playback.errors.push(data.details);
    if (data.fatal) window.playback.fatal = data.details;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => window.playback.errors.push(String(e))));
  hls.loadSource(new URLSearchParams(location.search).get('src'));
  hls.attachMedia(video);
</script>
</body></html>`;

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.js': 'text/javascript',
  '.html': 'text/html; charset=utf-8',
};

/** One request a site saw. */
export interface SiteRequest {
  url: string;
  status: number;
}

/** Serves `/player.html`, `/hls.js` and the files under `root` (the player's "CDN" and HLS origin). */
export function serveHlsFile(root: string, url: string): { status: number; type?: string; body?: Buffer } {
  const pathname = decodeURIComponent(new URL(url, 'http://x').pathname);
  if (pathname === '/player.html') return { status: 200, type: TYPES['.html'], body: Buffer.from(PLAYER_HTML) };
  const file = pathname === '/hls.js' ? HLS_JS : path.resolve(root, `.${pathname}`);
  const inside = file === HLS_JS || file.startsWith(path.resolve(root) + path.sep);
  if (!inside || !fs.existsSync(file) || !fs.statSync(file).isFile()) return { status: 404 };
  return { status: 200, type: TYPES[path.extname(file)] ?? 'application/octet-stream', body: fs.readFileSync(file) };
}

/** A loopback site serving the player and an HLS folder, with `Access-Control-Allow-Origin: *`. */
export interface HlsSite {
  baseUrl: string;
  requests: SiteRequest[];
  close: () => Promise<void>;
}

/** Starts the site on 127.0.0.1 (a fixed `port` when given). */
export async function startHlsSite(root: string, port = 0): Promise<HlsSite> {
  const requests: SiteRequest[] = [];
  const server = http.createServer((req, res) => {
    const found = req.method === 'GET' ? serveHlsFile(root, req.url ?? '/') : { status: 404 };
    requests.push({ url: req.url ?? '', status: found.status });
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (!found.body) return void res.writeHead(found.status).end();
    res.writeHead(200, { 'Content-Type': found.type as string, 'Content-Length': found.body.length });
    res.end(found.body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close };
}

/** Headless Debian Chromium with a fresh profile; `close` removes the profile. */
export interface HlsBrowser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Launches `/usr/bin/chromium` headless (no sandbox as root), autoplay allowed, nothing phoning home. */
export async function launchBrowser(): Promise<HlsBrowser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-hlsjs-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 20_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The parts of the player page the checks read (the test tsconfig has no DOM types). */
interface PageGlobals {
  document: { querySelector(selector: string): { currentTime: number } | null };
  playback: { errors: string[]; fatal: string | null };
}

/** Where a playback ended: the video's position, hls.js's errors and its fatal error, if any. */
export interface PlaybackOutcome {
  currentTime: number;
  errors: string[];
  fatal: string | null;
}

/**
 * Opens `pageUrl` (the player page, `?src=` added) and waits, at most `timeoutMs`, until the video has
 * played past `seconds` or hls.js reported a fatal error.
 */
export async function play(
  context: BrowserContext,
  pageUrl: string,
  src: string,
  seconds = 2,
  timeoutMs = 30_000,
): Promise<PlaybackOutcome> {
  const page = await context.newPage();
  try {
    await page.goto(`${pageUrl}?src=${encodeURIComponent(src)}`);
    await page
      .waitForFunction(
        (s) => {
          const g = globalThis as unknown as PageGlobals;
          return (g.document.querySelector('video')?.currentTime ?? 0) > s || g.playback.fatal !== null;
        },
        seconds,
        { timeout: timeoutMs, polling: 100 },
      )
      .catch(() => undefined);
    return await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      const currentTime = g.document.querySelector('video')?.currentTime ?? 0;
      return { currentTime, errors: g.playback.errors, fatal: g.playback.fatal };
    });
  } finally {
    await page.close();
  }
}
