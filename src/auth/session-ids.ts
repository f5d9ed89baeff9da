/**
 * Stateless playback sessions (session-level HLS encryption): the session id carries everything the
 * session is (resource, tenant, expiry, optional client IP, a 128-bit random nonce) under an
 * HMAC-SHA256, and the session's AES-128 key is derived from the id. Any instance holding the same
 * secret verifies an id and re-derives its key: no store, no state, works on Lambda.
 */
import crypto from 'node:crypto';
import { GoneError, KeyplaneError } from '../errors';

/** What a session is, as its id carries it. */
export interface SessionClaims {
  resourceId: string;
  /** The tenant the opening credential acted for (`*` for admin-wide callers). */
  tenant: string;
  /** Unix seconds after which the key and segments answer 410. */
  expiresAt: number;
  /** Present when sessions are bound to the client address that opened them. */
  clientIp?: string;
  /** The id's random part (base64url, 128 bits): names the session in the audit trail, opens nothing alone. */
  nonce: string;
}

/**
 * A session id that is not one we issued (malformed or MAC mismatch): 401 like any bad credential, so
 * a flood of guesses is rate-limited and its audit records sampled, not written one by one.
 */
export class UnknownSessionError extends KeyplaneError {
  constructor() {
    super(401, 'unauthorized', 'No such session: the session id is malformed or was not issued by this deployment', {
      details: { reason: 'session_invalid' },
    });
  }
}

/** A session whose expiry has passed: 410, the player must open a new session. */
export class SessionExpiredError extends GoneError {
  constructor() {
    super('Session has expired: open a new one through /sessions/hls/{resourceId}/{path}');
  }
}

/** A session bound to another client address: 403. */
export class SessionClientError extends KeyplaneError {
  constructor() {
    super(403, 'forbidden', 'Session was opened from another client address', {
      details: { reason: 'session_client_mismatch' },
    });
  }
}

const VERSION = 'v1';
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
/** Longest id accepted before any work: resource IDs are ≤ 256 characters, tenants short. */
const MAX_ID_LENGTH = 1024;
const ID_PATTERN = /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The smallest session secret accepted: 32 bytes (256 bits). */
export const MIN_SESSION_SECRET_BYTES = 32;

/** Derives one purpose's key from the secret (HKDF-SHA256, domain-separated by `info`). */
function derive(secret: Buffer, info: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), `keyplane/sessions/${info}`, 32));
}

/**
 * The session secret of a deployment that configured none: derived (HKDF, its own label) from the
 * local master key, so it is the same on every start and every instance sharing that key, and no
 * other use of the master key can produce it.
 */
export function sessionSecretFromMasterKey(masterKey: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), 'keyplane/session-secret/v1', 32));
}

function isClaims(v: unknown): v is { r: string; t: string; e: number; i?: string; n: string } {
  const o = v as Record<string, unknown>;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.r === 'string' &&
    typeof o.t === 'string' &&
    typeof o.e === 'number' &&
    Number.isSafeInteger(o.e) &&
    typeof o.n === 'string' &&
    (o.i === undefined || typeof o.i === 'string')
  );
}

/**
 * Mints and verifies session ids and derives session keys. Two keys are derived from the secret:
 * one MACs ids, the other derives session keys (key = HMAC(keyKey, id) truncated to 16 bytes), so
 * a session key never helps forge an id.
 */
export class SessionIds {
  private readonly macKey: Buffer;
  private readonly keyKey: Buffer;

  constructor(
    secret: Buffer,
    /** How long a session lasts, in seconds. */
    readonly ttlSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (secret.length < MIN_SESSION_SECRET_BYTES) throw new Error('Session secret must be at least 32 bytes');
    this.macKey = derive(secret, 'id-mac');
    this.keyKey = derive(secret, 'session-key');
  }

  private mac(body: string): Buffer {
    return crypto.createHmac('sha256', this.macKey).update(`${VERSION}.${body}`).digest();
  }

  /** Opens a session: a fresh id (random nonce) valid for ttlSeconds from now. */
  open(claims: Omit<SessionClaims, 'expiresAt' | 'nonce'>): { id: string; claims: SessionClaims } {
    const expiresAt = Math.floor(this.now().getTime() / 1000) + this.ttlSeconds;
    const nonce = crypto.randomBytes(NONCE_BYTES).toString('base64url');
    const payload = {
      r: claims.resourceId,
      t: claims.tenant,
      e: expiresAt,
      ...(claims.clientIp === undefined ? {} : { i: claims.clientIp }),
      n: nonce,
    };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const id = `${VERSION}.${body}.${this.mac(body).toString('base64url')}`;
    return { id, claims: { ...claims, expiresAt, nonce } };
  }

  /**
   * The claims of an id we issued: 404 for anything else (MAC compared in constant time before the
   * payload is parsed), 410 once expired, 403 when bound to another client address.
   */
  verify(id: string, clientIp?: string): SessionClaims {
    if (id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) throw new UnknownSessionError();
    const [, body, tag] = id.split('.') as [string, string, string];
    const given = Buffer.from(tag, 'base64url');
    // One spelling per id: decoding ignores the last character's spare bits, so four spellings of one tag
    // would verify, and key() (over the id's text) would give each its own key.
    if (given.toString('base64url') !== tag) throw new UnknownSessionError();
    const expected = this.mac(body);
    if (given.length !== MAC_BYTES || !crypto.timingSafeEqual(given, expected)) throw new UnknownSessionError();
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw new UnknownSessionError();
    }
    if (!isClaims(parsed)) throw new UnknownSessionError();
    if (Math.floor(this.now().getTime() / 1000) >= parsed.e) throw new SessionExpiredError();
    if (parsed.i !== undefined && parsed.i !== clientIp) throw new SessionClientError();
    return {
      resourceId: parsed.r,
      tenant: parsed.t,
      expiresAt: parsed.e,
      nonce: parsed.n,
      ...(parsed.i === undefined ? {} : { clientIp: parsed.i }),
    };
  }

  /** The session's AES-128 key: HMAC-SHA256(keyKey, id), first 16 bytes. Call only on a verified id. */
  key(id: string): Buffer {
    return crypto.createHmac('sha256', this.keyKey).update(id).digest().subarray(0, 16);
  }
}
