/**
 * Widevine Common Encryption API checks (`--widevine-signer`): what Shaka Packager needs from a key server
 * that speaks it — keys and a Widevine pssh per track, the same keys when asked again, crypto periods in order,
 * and no key for an unsigned, wrongly signed or malformed request.
 */
import { SYSTEM_IDS } from '../../drm/drm-system';
import { parsePsshBox } from '../cpix-response-reader';
import type { WidevineAnswer, WidevineClient, WidevineTrack } from '../widevine-client';
import { CheckSkippedError, expect, pass, resourceIdFor, type Check, type ConformanceContext } from './check';

const TRACKS = ['SD', 'HD', 'AUDIO'];

function client(ctx: ConformanceContext): WidevineClient {
  if (!ctx.widevine) throw new CheckSkippedError('no --widevine-signer given');
  return ctx.widevine;
}

function request(ctx: ConformanceContext, label: string, extra: Record<string, unknown> = {}) {
  return {
    content_id: Buffer.from(resourceIdFor(ctx, `wv-${label}`), 'utf8').toString('base64'),
    policy: '',
    tracks: TRACKS.map((type) => ({ type })),
    drm_types: ['WIDEVINE'],
    protection_scheme: 'CENC',
    ...extra,
  };
}

const hex = (b: Buffer) => b.toString('hex');

function expectOk(answer: WidevineAnswer, count: number): WidevineTrack[] {
  expect(answer.http === 200, `HTTP ${answer.http}, expected 200`);
  expect(answer.status === 'OK', `status ${answer.status ?? '(no API answer)'} ${answer.statusMessage ?? ''}`);
  expect(answer.tracks.length === count, `${answer.tracks.length} tracks, expected ${count}`);
  for (const t of answer.tracks) {
    expect(t.key.length === 16 && t.keyId.length === 16, `track ${t.type}: key and key_id must be 16 bytes`);
    expect(t.pssh.length === 1, `track ${t.type}: ${t.pssh.length} pssh entries, expected 1 (WIDEVINE)`);
    const box = t.pssh[0]?.boxes ?? t.pssh[0]?.data;
    expect(box && box.length > 0, `track ${t.type}: pssh has neither boxes nor data`);
    if (t.pssh[0]?.boxes)
      expect(parsePsshBox(t.pssh[0].boxes).systemId === SYSTEM_IDS.widevine, 'pssh box is not Widevine');
    expect(
      (t.pssh[0]?.data ?? box)?.includes(t.keyId),
      `track ${t.type}: the Widevine pssh data does not name its key_id`,
    );
  }
  return answer.tracks;
}

function expectRefused(answer: WidevineAnswer, what: string) {
  expect(
    answer.tracks.every((t) => t.key.length === 0),
    `${what}: the answer carries a key`,
  );
  expect(answer.http !== 200 || (answer.status !== undefined && answer.status !== 'OK'), `${what}: answered OK`);
  return pass(`HTTP ${answer.http}, status ${answer.status ?? '-'}`);
}

function check(
  name: string,
  description: string,
  run: (ctx: ConformanceContext) => Promise<ReturnType<typeof pass>>,
): Check {
  return {
    name: `wv-api.${name}`,
    category: name.startsWith('reject') ? 'negative' : 'keys',
    speke: 'widevine',
    description,
    run,
  };
}

/** The Widevine API checks, run when `--widevine-signer` is given. */
export function widevineChecks(): Check[] {
  return [
    check('keys', 'signed request: one 16-byte key, KID and Widevine pssh per track, distinct KIDs', async (ctx) => {
      const tracks = expectOk(await client(ctx).post(request(ctx, 'keys')), TRACKS.length);
      expect(tracks.map((t) => t.type).join() === TRACKS.join(), `track types ${tracks.map((t) => t.type).join()}`);
      expect(new Set(tracks.map((t) => hex(t.keyId))).size === TRACKS.length, 'two tracks share a KID');
      return pass(`${tracks.length} tracks`);
    }),
    check('stability', 'the same request again gets the same KIDs and keys', async (ctx) => {
      const first = expectOk(await client(ctx).post(request(ctx, 'stable')), TRACKS.length);
      const again = expectOk(await client(ctx).post(request(ctx, 'stable')), TRACKS.length);
      const same = first.every(
        (t, i) =>
          hex(t.keyId) === hex(again[i]?.keyId ?? Buffer.alloc(0)) && t.key.equals(again[i]?.key ?? Buffer.alloc(0)),
      );
      expect(same, 'a repeated request got other keys');
      return pass();
    }),
    check(
      'rotation',
      'key rotation: crypto_period_count keys per track from first_crypto_period_index, in order',
      async (ctx) => {
        const tracks = expectOk(
          await client(ctx).post(request(ctx, 'rotation', { first_crypto_period_index: 5, crypto_period_count: 3 })),
          TRACKS.length * 3,
        );
        const indexes = tracks.map((t) => t.cryptoPeriodIndex).join();
        expect(indexes === '5,5,5,6,6,6,7,7,7', `crypto_period_index order ${indexes}`);
        expect(new Set(tracks.map((t) => hex(t.keyId))).size === tracks.length, 'periods share a KID');
        return pass();
      },
    ),
    check('pssh-data', 'a request by pssh_data (decryption) gets the keys of the KIDs it names', async (ctx) => {
      const [track] = expectOk(await client(ctx).post(request(ctx, 'pssh-data')), TRACKS.length);
      const data = track?.pssh[0]?.data ?? Buffer.concat([Buffer.from([0x12, 0x10]), track?.keyId ?? Buffer.alloc(16)]);
      const answer = await client(ctx).post({ pssh_data: data.toString('base64'), drm_types: ['WIDEVINE'] });
      const [got] = expectOk(answer, 1);
      expect(got?.keyId.equals(track?.keyId ?? Buffer.alloc(0)), 'the answer names another KID');
      expect(got?.key.equals(track?.key ?? Buffer.alloc(0)), 'the answer carries another key');
      return pass();
    }),
    check('reject.unsigned', 'an unsigned request gets no key', async (ctx) =>
      expectRefused(await client(ctx).post(request(ctx, 'unsigned'), null), 'unsigned'),
    ),
    check('reject.bad-signature', 'a request signed with the wrong key gets no key', async (ctx) => {
      const c = client(ctx);
      const wrong = { ...c.signer, key: Buffer.from(c.signer.key.map((b) => b ^ 0xff)) };
      return expectRefused(await c.post(request(ctx, 'bad-sig'), wrong), 'wrong signature');
    }),
    check('reject.unknown-track', 'an unknown track type gets no key', async (ctx) =>
      expectRefused(await client(ctx).post(request(ctx, 'bad-track', { tracks: [{ type: 'XX' }] })), 'track XX'),
    ),
    check('reject.malformed', 'a body that is not the API’s JSON gets no key', async (ctx) =>
      expectRefused(await client(ctx).postRaw('{"request": 42'), 'malformed body'),
    ),
  ];
}
