import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchPlaylist, MAX_ORIGIN_REDIRECTS, OriginError, type OriginConfig } from '../../../src/hls/origin';
import { freePort } from '../../helpers/server-process';

const PLAYLIST = '#EXTM3U\n#EXTINF:4,\ns.ts\n';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let origin: { server: http.Server; base: string };
let elsewhere: { server: http.Server; base: string };
const seen: Seen[] = [];
const elsewhereSeen: string[] = [];
const config = (): OriginConfig => ({ urlTemplate: `${origin.base}/{resourceId}/`, timeoutMs: 1000, maxBytes: 4096 });

beforeAll(async () => {
  elsewhere = await listen((req, res) => {
    elsewhereSeen.push(req.url ?? '');
    res.writeHead(200).end(PLAYLIST);
  });
  origin = await listen((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '').split('?')[0];
    if (path === '/v/ok.m3u8') return res.writeHead(200).end(PLAYLIST);
    if (path === '/v/same.m3u8') return res.writeHead(302, { location: '/v/ok.m3u8' }).end();
    if (path === '/v/loop.m3u8') return res.writeHead(301, { location: '/v/loop.m3u8' }).end();
    if (path === '/v/away.m3u8') return res.writeHead(302, { location: `${elsewhere.base}/secret.m3u8` }).end();
    if (path === '/v/scheme.m3u8') return res.writeHead(307, { location: 'file:///etc/passwd' }).end();
    if (path === '/v/boom.m3u8') return res.writeHead(503).end(`upstream ${elsewhere.base} exploded`);
    res.writeHead(404).end();
  });
});
afterAll(async () => {
  for (const s of [origin.server, elsewhere.server]) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

const fetchFrom = (path: string) => fetchPlaylist(new URL(path, `${origin.base}/v/`), config());

async function failure(promise: Promise<unknown>): Promise<OriginError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OriginError);
  return err as OriginError;
}

function expectNothingRevealed(err: OriginError, ...hosts: string[]): void {
  expect(err.status).toBe(502);
  for (const host of hosts) {
    expect(err.message).not.toContain(host.replace('http://', ''));
    expect(err.message).not.toContain(new URL(host).port);
  }
  expect(err.message).not.toMatch(/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|exploded|127\.0\.0\.1/);
}

describe('fetchPlaylist', () => {
  it('follows a same-origin redirect and reports the final URL', async () => {
    const got = await fetchFrom('same.m3u8?x=1');
    expect(got.text).toBe(PLAYLIST);
    expect(got.url.href).toBe(`${origin.base}/v/ok.m3u8`);
  });

  it(`stops after ${MAX_ORIGIN_REDIRECTS} same-origin redirects`, async () => {
    const before = seen.length;
    const err = await failure(fetchFrom('loop.m3u8'));
    expect(err.message).toMatch(/too many times/);
    expect(seen.length - before).toBe(MAX_ORIGIN_REDIRECTS + 1);
  });

  it.each(['away.m3u8', 'scheme.m3u8'])(
    'refuses a redirect to another origin (%s) without following or naming it',
    async (path) => {
      const before = elsewhereSeen.length;
      const err = await failure(fetchFrom(path));
      expect(err.message).toMatch(/redirected the playlist to another origin/);
      expectNothingRevealed(err, elsewhere.base);
      expect(elsewhereSeen.length).toBe(before);
    },
  );

  it('reports an origin error status without its body', async () => {
    const err = await failure(fetchFrom('boom.m3u8'));
    expect(err.message).toBe('Origin answered 503 for the playlist');
    expectNothingRevealed(err, elsewhere.base);
  });

  it('reports a refused connection and an unknown host without the cause, host or port', async () => {
    const port = await freePort();
    const closed = `http://127.0.0.1:${port}`;
    const refused = await failure(
      fetchPlaylist(new URL(`${closed}/v/x.m3u8`), { ...config(), urlTemplate: `${closed}/{resourceId}/` }),
    );
    expect(refused.message).toBe('Origin could not be reached');
    expectNothingRevealed(refused, closed);
    const dns = await failure(fetchPlaylist(new URL('http://no-such-host.invalid/v/x.m3u8'), config()));
    expect(dns.message).toBe('Origin could not be reached');
    expect(dns.message).not.toContain('no-such-host');
  });

  it('sends only Accept: no token, Authorization, cookie or API key', async () => {
    const before = seen.length;
    await fetchFrom('ok.m3u8?v=2');
    const request = seen[before] as Seen;
    expect(request.url).toBe('/v/ok.m3u8?v=2');
    expect(request.headers.authorization).toBeUndefined();
    expect(request.headers.cookie).toBeUndefined();
    expect(request.headers['x-api-key']).toBeUndefined();
    expect(request.headers.accept).toBe('application/vnd.apple.mpegurl');
  });
});
