import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The minimal MSE + EME Clear Key DASH player page. */
export const PLAYER_PAGE = path.join(__dirname, 'eme-player.html');
/** Debian's Chromium (the e2e tests never download a browser). */
export const CHROMIUM = '/usr/bin/chromium';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
};

/** A loopback "CDN" serving the player page at `/player.html` and a DASH folder; another origin than Keyplane. */
export interface PlayerSite {
  baseUrl: string;
  /** Paths requested, with their status. */
  requests: Array<{ url: string; status: number }>;
  close: () => Promise<void>;
}

function fileFor(root: string, url: string): string | undefined {
  const pathname = decodeURIComponent(new URL(url, 'http://x').pathname);
  if (pathname === '/player.html') return PLAYER_PAGE;
  const file = path.resolve(root, `.${pathname}`);
  return file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

/** Serves the player page and `root` read-only on 127.0.0.1. */
export async function startPlayerSite(root: string): Promise<PlayerSite> {
  const dir = path.resolve(root);
  const requests: PlayerSite['requests'] = [];
  const server = http.createServer((req, res) => {
    const file = req.method === 'GET' ? fileFor(dir, req.url ?? '/') : undefined;
    requests.push({ url: req.url ?? '', status: file ? 200 : 404 });
    if (!file) return void res.writeHead(404).end();
    const body = fs.readFileSync(file);
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
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

/** Headless Chromium with a fresh profile; `close` also removes the profile. */
export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Launches Debian's Chromium headless (as root: no sandbox), autoplay allowed, nothing phoning home. */
export async function launchChromium(): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
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

/** What the page reports about one playback. */
export interface PlaybackState {
  currentTime: number;
  /** Status of every license response, in order. */
  licenses: number[];
  errors: string[];
  log: string[];
  laUrl: string | null;
  appended: number;
  decodedFrames: number;
}

/** Reads the page's playback state (in-page code as strings: this project compiles without DOM types). */
export function playbackState(page: Page): Promise<PlaybackState> {
  return page.evaluate<PlaybackState>(
    `(() => {
      const video = document.getElementById('video');
      const quality = video.getVideoPlaybackQuality();
      return { ...window.playerState, currentTime: video.currentTime, decodedFrames: quality.totalVideoFrames };
    })()`,
  );
}

/** Opens the player page, starts playing `mpdUrl` with the given license request headers. */
export async function startPlayback(
  browser: Browser,
  site: PlayerSite,
  mpdUrl: string,
  headers: Record<string, string>,
): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${site.baseUrl}/player.html`);
  await page.evaluate(`window.play(${JSON.stringify(mpdUrl)}, ${JSON.stringify(headers)})`);
  return page;
}

/** Waits (bounded) until the video has played past `seconds`; returns whether it did. */
export async function playsPast(page: Page, seconds: number, timeoutMs: number): Promise<boolean> {
  try {
    await page.waitForFunction(`document.getElementById('video').currentTime > ${seconds}`, undefined, {
      timeout: timeoutMs,
      polling: 100,
    });
    return true;
  } catch {
    return false;
  }
}
