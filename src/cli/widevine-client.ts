/**
 * A Widevine Common Encryption API client that signs as Shaka Packager does (AES-256-CBC of SHA-1 with the
 * signer's key and IV), for `keyplane conformance` and the tests. It sends no Keyplane credential: the request
 * signs itself, and the server under test may be another vendor's.
 */
import { aesSignature } from '../widevine/request-signers';
import { UsageError } from './cli-errors';
import { CLI_USER_AGENT, refuseRedirect } from './http-client';

/** An AES signer as the packager's `--signer`, `--aes_signing_key`, `--aes_signing_iv` give it. */
export interface AesSignerKey {
  name: string;
  key: Buffer;
  iv: Buffer;
}

/** One track of an OK answer. */
export interface WidevineTrack {
  type: string;
  keyId: Buffer;
  key: Buffer;
  cryptoPeriodIndex?: number;
  pssh: Array<{ drmType: string; data?: Buffer; boxes?: Buffer }>;
}

/** An answer: HTTP status, the API status (undefined when the body is not the API's JSON) and the tracks. */
export interface WidevineAnswer {
  http: number;
  status?: string;
  statusMessage?: string;
  tracks: WidevineTrack[];
}

/** Parses `name:aesKeyHex:aesIvHex` (64 and 32 hex digits). */
export function parseAesSigner(value: string): AesSignerKey {
  const [name, keyHex = '', ivHex = '', ...rest] = value.split(':');
  if (!name || rest.length > 0 || !/^[0-9a-fA-F]{64}$/.test(keyHex) || !/^[0-9a-fA-F]{32}$/.test(ivHex)) {
    throw new UsageError('--widevine-signer must be name:aesKeyHex(64 hex digits):aesIvHex(32 hex digits)');
  }
  return { name, key: Buffer.from(keyHex, 'hex'), iv: Buffer.from(ivHex, 'hex') };
}

/** The HTTP body of a request: the JSON request base64-encoded, signed by `signer` (unsigned without one). */
export function signedBody(request: Record<string, unknown>, signer?: AesSignerKey): string {
  const message = Buffer.from(JSON.stringify(request), 'utf8');
  if (!signer) return JSON.stringify({ request: message.toString('base64') });
  const signature = aesSignature(message, signer.key, signer.iv).toString('base64');
  return JSON.stringify({ request: message.toString('base64'), signature, signer: signer.name });
}

const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.alloc(0));

function readTrack(t: Record<string, unknown>): WidevineTrack {
  const pssh = Array.isArray(t.pssh) ? (t.pssh as Array<Record<string, unknown>>) : [];
  return {
    type: String(t.type),
    keyId: bytes(t.key_id),
    key: bytes(t.key),
    ...(typeof t.crypto_period_index === 'number' ? { cryptoPeriodIndex: t.crypto_period_index } : {}),
    pssh: pssh.map((p) => ({
      drmType: String(p.drm_type ?? 'WIDEVINE'),
      ...(p.data === undefined ? {} : { data: bytes(p.data) }),
      ...(p.boxes === undefined ? {} : { boxes: bytes(p.boxes) }),
    })),
  };
}

/** Reads an answer body as Shaka Packager does: `{response: base64(JSON)}`, unknown fields ignored. */
export function readAnswer(http: number, text: string): WidevineAnswer {
  try {
    const outer = JSON.parse(text) as { response?: unknown };
    const inner = JSON.parse(bytes(outer.response).toString('utf8')) as Record<string, unknown>;
    const tracks = Array.isArray(inner.tracks) ? (inner.tracks as Array<Record<string, unknown>>) : [];
    return {
      http,
      status:
        typeof inner.status === 'string' ? inner.status : inner.status === undefined ? 'OK' : String(inner.status),
      ...(typeof inner.status_message === 'string' ? { statusMessage: inner.status_message } : {}),
      tracks: tracks.map(readTrack),
    };
  } catch {
    return { http, tracks: [] };
  }
}

/** Posts signed requests to one Widevine API endpoint. */
export class WidevineClient {
  constructor(
    readonly endpoint: string,
    readonly signer: AesSignerKey,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Posts a request (signed by this client's signer unless `signer` says otherwise) and reads the answer. */
  async post(request: Record<string, unknown>, signer: AesSignerKey | null = this.signer): Promise<WidevineAnswer> {
    return this.postRaw(signedBody(request, signer ?? undefined));
  }

  /** Posts a raw body and reads the answer. */
  async postRaw(body: string): Promise<WidevineAnswer> {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': CLI_USER_AGENT },
      body,
      // Never followed: a 307/308 would post the signed request on to wherever Location points.
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    refuseRedirect(this.endpoint, res);
    return readAnswer(res.status, await res.text());
  }
}
