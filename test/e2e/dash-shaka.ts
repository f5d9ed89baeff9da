import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT } from '../helpers/paths';
import type { Browser } from './eme-player';

/** Shaka Player's compiled build from the `shaka-player` npm package (dev dependency). */
export const SHAKA_PLAYER_JS = path.join(ROOT, 'node_modules/shaka-player/dist/shaka-player.compiled.js');

/** One DRM system of `keyplane request-keys --json`. */
export interface DrmSignalling {
  kid: string;
  systemId: string;
  pssh: string | null;
  contentProtectionData: string | null;
}

/**
 * The README's step "put Keyplane's ContentProtectionData into the MPD", as code: the content of every
 * `<ContentProtection schemeIdUri="urn:uuid:<systemId>">` becomes what Keyplane returned for that system (one
 * KID: the SHARED preset), unchanged. Clear Key's is only its license URLs (`clearkey:Laurl`, `dashif:laurl`), from
 * which Shaka Player builds Common PSSH init data with `cenc:default_KID`.
 */
export function withKeyplaneContentProtection(mpd: string, drmSystems: DrmSignalling[]): string {
  let out = mpd;
  for (const d of drmSystems) {
    if (d.contentProtectionData === null) continue;
    const cpd = d.contentProtectionData;
    const element = new RegExp(
      `(<ContentProtection[^>]*schemeIdUri="urn:uuid:${d.systemId}"[^>]*>)[\\s\\S]*?(</ContentProtection>)`,
      'g',
    );
    out = out.replace(element, (_all, open: string, close: string) => `${open}${cpd}${close}`);
  }
  return out;
}

/**
 * The player page: Shaka Player (the license URL comes from the MPD's `clearkey:Laurl`), a request filter
 * adding the playback token to license requests only, and `window.state` for the test to read.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Keyplane DASH</title></head>
<body><video id="video" muted width="320" height="240"></video>
<script src="shaka-player.compiled.js"></script>
<script>
window.state = { errors: [], details: [], licenses: [], loaded: false };
window.play = async (manifestUri, token) => {
  shaka.polyfill.installAll();
  const video = document.getElementById('video');
  const player = new shaka.Player();
  await player.attach(video);
  const LICENSE = shaka.net.NetworkingEngine.RequestType.LICENSE;
  player.addEventListener('error', (e) => {
    window.state.errors.push('shaka ' + e.detail.code);
    window.state.details.push(JSON.stringify(e.detail.data));
  });
  player.getNetworkingEngine().registerRequestFilter((type, request) => {
    if (type === LICENSE && token) request.headers['Authorization'] = 'Bearer ' + token;
  });
  player.getNetworkingEngine().registerResponseFilter((type, response) => {
    if (type === LICENSE) window.state.licenses.push({ uri: response.uri, status: response.status });
  });
  try {
    await player.load(manifestUri);
    window.state.loaded = true;
    await video.play();
  } catch (e) {
    window.state.errors.push('shaka ' + (e && e.code !== undefined ? e.code : String(e)));
  }
};
</script></body></html>
`;

/** Writes the player page and Shaka Player's build into the folder the static server serves. */
export function writePlayerPage(www: string): void {
  fs.writeFileSync(path.join(www, 'player.html'), PAGE);
  fs.copyFileSync(SHAKA_PLAYER_JS, path.join(www, 'shaka-player.compiled.js'));
}

/** What the page reports about one playback. */
export interface ShakaState {
  /** Shaka error codes, e.g. `shaka 6007` (license request failed). */
  errors: string[];
  /** Each error's data (the browser's message). */
  details: string[];
  licenses: Array<{ uri: string; status?: number }>;
  loaded: boolean;
  currentTime: number;
  decodedFrames: number;
}

/** Opens the page on the static server and starts Shaka Player on `mpdUrl`, with a token for licenses or none. */
export async function playWithShaka(browser: Browser, pageUrl: string, mpdUrl: string, token?: string): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(pageUrl);
  await page.evaluate(`void window.play(${JSON.stringify(mpdUrl)}, ${JSON.stringify(token ?? null)})`);
  return page;
}

/** Reads the page's state (in-page code as strings: this project compiles without DOM types). */
export function shakaState(page: Page): Promise<ShakaState> {
  return page.evaluate<ShakaState>(
    `(() => {
      const video = document.getElementById('video');
      return { ...window.state, currentTime: video.currentTime,
        decodedFrames: video.getVideoPlaybackQuality().totalVideoFrames };
    })()`,
  );
}
