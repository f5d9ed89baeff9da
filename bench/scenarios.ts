import crypto from 'node:crypto';
import type autocannon from 'autocannon';
import { buildCpixRequest } from '../src/cli/cpix-request-builder';
import { signedBody, type AesSignerKey } from '../src/cli/widevine-client';
import { PLAYER_TRANSPORT_SCENARIOS } from './edgeauth-scenarios';
import { onPostgres } from './postgres';
import type { LoadResult } from './wrk';

/** HLS AES-128 systemId (AWS convention). */
export const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';

/** What a scenario may use while preparing its load: the fresh server and its credentials. */
export interface ScenarioContext {
  baseUrl: string;
  adminKey: string;
  /** Creates an API key with the given roles through `POST /api-keys`. */
  apiKey: (roles: string[]) => Promise<string>;
}

/** The context of a fresh server: its URL, admin key and a way to create API keys through the API. */
export function scenarioContext(baseUrl: string, adminKey: string): ScenarioContext {
  return {
    baseUrl,
    adminKey,
    apiKey: async (roles) => {
      const res = await fetch(`${baseUrl}/api-keys`, {
        method: 'POST',
        headers: { 'x-api-key': adminKey, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench-${roles.join('-')}`, roles }),
      });
      if (res.status !== 201) throw new Error(`POST /api-keys answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { key: string }).key;
    },
  };
}

/** The load autocannon sends: one request template, optionally rebuilt before every request. */
export type LoadSpec = autocannon.Request;

/**
 * One benchmark scenario. Add an entry to SCENARIOS to measure something new (SPEKE v2 with 8 keys,
 * a KMS-backed server with a counting fake KMS via `serverEnv`, …); `notes` can report extra figures
 * such as KMS calls per request after the measured run.
 */
export interface Scenario {
  /** Stable id, used by BENCH_ONLY. */
  name: string;
  /** Row label in the results table. */
  title: string;
  /** Which server process the load goes to; each scenario gets a fresh process (and data dir). */
  target: 'keyplane' | 'baseline';
  /** Extra environment for the server process. */
  serverEnv?: Record<string, string>;
  /** Extra environment made just before the server starts (e.g. a fresh database and its URL). */
  serverSetup?: () => Promise<Record<string, string>>;
  /** Run `keyplane serve --workers N` (a cluster primary and N workers) instead of one server process. */
  workers?: number;
  /** Prepares state on the fresh server and returns the request to send. */
  prepare: (ctx: ScenarioContext) => Promise<LoadSpec>;
  /** Extra figures for the Notes column, read after the measured run. */
  notes?: (ctx: ScenarioContext, measured: LoadResult) => Promise<string>;
}

/** A SPEKE v1 request for one HLS AES-128 key, with the placeholders AWS encoders send. */
export function cpixV1(resourceId: string, kid: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" ` +
    `xmlns:speke="urn:aws:amazon:com:speke">\n  <cpix:ContentKeyList>\n    <cpix:ContentKey kid="${kid}"></cpix:ContentKey>\n` +
    `  </cpix:ContentKeyList>\n  <cpix:DRMSystemList>\n    <cpix:DRMSystem kid="${kid}" systemId="${HLS_AES128}">\n` +
    `      <cpix:ContentProtectionData />\n      <speke:KeyFormat />\n      <speke:KeyFormatVersions />\n` +
    `      <speke:ProtectionHeader />\n      <cpix:PSSH />\n      <cpix:URIExtXKey />\n    </cpix:DRMSystem>\n` +
    `  </cpix:DRMSystemList>\n</cpix:CPIX>\n`
  );
}

/** An XML body of exactly `bytes` bytes (a CPIX document padded with a comment). */
export function xmlOfSize(bytes: number): string {
  const base = cpixV1('baseline-resource', '00000000-0000-4000-8000-000000000000');
  const pad = bytes - Buffer.byteLength(base) - '<!---->\n'.length;
  return `${base}<!--${'x'.repeat(Math.max(0, pad))}-->\n`;
}

/**
 * A SPEKE v2 request shaped like a UHD ladder: PRESET-VIDEO-5 + PRESET-AUDIO-3 (5 video + 3 audio keys), Widevine
 * and PlayReady, `cenc`. Built once; each call swaps in a fresh content ID and 8 fresh KIDs (cheap on the client).
 */
export function cpixV2EightKeys(): () => string {
  let n = 0;
  const placeholder = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const { xml } = buildCpixRequest({
    speke: '2.0',
    resourceId: 'CONTENT-ID',
    drms: ['widevine', 'playready'],
    preset: { video: 'PRESET-VIDEO-5', audio: 'PRESET-AUDIO-3' },
    scheme: 'cenc',
    newKid: placeholder,
  });
  return () => {
    const kids = new Map<string, string>();
    const fresh = (placeholderKid: string) => {
      const kid = kids.get(placeholderKid) ?? crypto.randomUUID();
      kids.set(placeholderKid, kid);
      return kid;
    };
    return xml.replace('CONTENT-ID', `movie-${crypto.randomUUID()}`).replace(/00000000-0000-4000-8000-\d{12}/g, fresh);
  };
}

async function speke(ctx: ScenarioContext, encoderKey: string, body: string, v2 = false): Promise<void> {
  const res = await fetch(`${ctx.baseUrl}/copyProtection`, {
    method: 'POST',
    headers: {
      'x-api-key': encoderKey,
      'content-type': 'application/xml',
      ...(v2 ? { 'x-speke-version': '2.0' } : {}),
    },
    body,
  });
  if (res.status !== 200) throw new Error(`priming SPEKE request answered ${res.status}: ${await res.text()}`);
}

const xmlPost = (key: string, body?: string): LoadSpec => ({
  method: 'POST',
  path: '/copyProtection',
  headers: { 'x-api-key': key, 'content-type': 'application/xml' },
  body,
});

/** The Widevine API signer the `widevine-*` scenarios configure and sign with. */
const WV_SIGNER: AesSignerKey = { name: 'bench', key: crypto.randomBytes(32), iv: crypto.randomBytes(16) };
const WV_ENV = {
  KEYPLANE_WIDEVINE_SIGNERS: `${WV_SIGNER.name}:${WV_SIGNER.key.toString('hex')}:${WV_SIGNER.iv.toString('hex')}`,
  KEYPLANE_WIDEVINE_KID_SECRET: crypto.randomBytes(32).toString('hex'),
};

/** Shaka Packager's request for a new content ID: 5 track types, Widevine pssh, optionally 10 crypto periods. */
function widevineLoad(rotation: boolean): LoadSpec {
  const body = () =>
    signedBody(
      {
        content_id: Buffer.from(`wv-${crypto.randomUUID()}`).toString('base64'),
        policy: '',
        tracks: ['SD', 'HD', 'UHD1', 'UHD2', 'AUDIO'].map((type) => ({ type })),
        drm_types: ['WIDEVINE'],
        protection_scheme: 'CENC',
        ...(rotation ? { first_crypto_period_index: 0, crypto_period_count: 10, crypto_period_seconds: 10 } : {}),
      },
      WV_SIGNER,
    );
  return {
    method: 'POST',
    path: '/widevine/cenc',
    headers: { 'content-type': 'application/json' },
    setupRequest: (req) => ({ ...req, body: body() }),
  };
}

/** The scenarios `npm run bench` runs, in order. The baseline comes first: the others are reported as ratios to it. */
const SINGLE_PROCESS: Scenario[] = [
  {
    name: 'baseline',
    title: 'Baseline: bare Express 5, echo 2 KB XML',
    target: 'baseline',
    prepare: async () => ({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/xml' },
      body: xmlOfSize(2048),
    }),
  },
  {
    name: 'speke-v1-new',
    title: 'SPEKE v1, 1 HLS AES-128 key, new KID + resource ID per request',
    target: 'keyplane',
    prepare: async (ctx) => {
      const key = await ctx.apiKey(['encoder']);
      await speke(ctx, key, cpixV1(`prime-${crypto.randomUUID()}`, crypto.randomUUID()));
      return {
        ...xmlPost(key),
        setupRequest: (req) => ({ ...req, body: cpixV1(`movie-${crypto.randomUUID()}`, crypto.randomUUID()) }),
      };
    },
  },
  {
    name: 'speke-v1-repeat',
    title: 'SPEKE v1, same request repeated (existing key)',
    target: 'keyplane',
    prepare: async (ctx) => {
      const key = await ctx.apiKey(['encoder']);
      const body = cpixV1('repeat-movie', crypto.randomUUID());
      await speke(ctx, key, body);
      return xmlPost(key, body);
    },
  },
  {
    name: 'key-get',
    title: 'Key delivery: GET /keys/{resourceId}/{kid}',
    target: 'keyplane',
    prepare: async (ctx) => {
      const [encoderKey, keyserverKey] = await Promise.all([ctx.apiKey(['encoder']), ctx.apiKey(['keyserver'])]);
      const kid = crypto.randomUUID();
      await speke(ctx, encoderKey, cpixV1('delivery-movie', kid));
      return { method: 'GET', path: `/keys/delivery-movie/${kid}`, headers: { 'x-api-key': keyserverKey } };
    },
  },
  {
    name: 'static-key-create',
    title: 'Static key create: POST /static-keys, new resource ID each',
    target: 'keyplane',
    prepare: async (ctx) => ({
      method: 'POST',
      path: '/static-keys',
      headers: { 'x-api-key': ctx.adminKey, 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ resourceId: `static-${crypto.randomUUID()}` }) }),
    }),
  },
  {
    name: 'speke-v2-8keys-new',
    title:
      'SPEKE v2, 8 keys (PRESET-VIDEO-5 + PRESET-AUDIO-3), Widevine + PlayReady cenc, new KIDs + content ID per request',
    target: 'keyplane',
    prepare: async (ctx) => {
      const key = await ctx.apiKey(['encoder']);
      const next = cpixV2EightKeys();
      await speke(ctx, key, next(), true);
      return {
        ...xmlPost(key),
        headers: { ...xmlPost(key).headers, 'x-speke-version': '2.0' },
        setupRequest: (req) => ({ ...req, body: next() }),
      };
    },
  },
  {
    name: 'widevine-5keys-new',
    title: 'Widevine API (Shaka Packager), 5 track keys + Widevine pssh, AES-signed, new content ID per request',
    target: 'keyplane',
    serverEnv: WV_ENV,
    prepare: async () => widevineLoad(false),
  },
  {
    name: 'widevine-rotation-50keys-new',
    title: 'Widevine API, key rotation: 5 tracks × 10 crypto periods = 50 keys, new content ID per request',
    target: 'keyplane',
    serverEnv: WV_ENV,
    prepare: async () => widevineLoad(true),
  },
  ...PLAYER_TRANSPORT_SCENARIOS,
];

/** The scenarios `npm run bench` runs, in order; the workers ones repeat SPEKE v1 and delivery on two processes. */
export const SCENARIOS: Scenario[] = [
  ...SINGLE_PROCESS,
  ...SINGLE_PROCESS.filter((s) => s.name === 'speke-v1-new' || s.name === 'key-get').map((single): Scenario => ({
    ...single,
    name: `${single.name}-workers2`,
    title: `${single.title}, 2 worker processes (serve --workers 2)`,
    workers: 2,
  })),
];

/** SPEKE v1 (new keys: one transaction each) and key delivery against PostgreSQL, next to their SQLite rows. */
SCENARIOS.push(
  ...['speke-v1-new', 'key-get'].map((name) => onPostgres(SINGLE_PROCESS.find((s) => s.name === name) as Scenario)),
);
