import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createSecretFileAtomically, readSecretFile } from '../util/secret-file';

/** An HS256 key that signs or verifies playback tokens; `kid` goes into the JWT header. */
export interface TokenSigningKey {
  kid: string;
  secret: Buffer;
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const MIN_SECRET_BYTES = 32;

/**
 * Parses `KEYPLANE_TOKEN_SIGNING_KEYS`: comma-separated `kid:base64secret`; the first signs, all
 * verify (so keys can be rotated without breaking tokens already handed out). Errors never echo secrets.
 */
export function parseTokenSigningKeys(text: string): TokenSigningKey[] {
  const keys = text.split(',').map((entry, i) => {
    const at = entry.indexOf(':');
    const kid = entry.slice(0, Math.max(at, 0)).trim();
    const encoded = entry.slice(at + 1).trim();
    if (at < 0 || !KID.test(kid)) throw new Error(`entry ${i + 1}: expected kid:base64secret (kid: A-Z a-z 0-9 . _ -)`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new Error(`entry ${i + 1}: secret is not base64`);
    const secret = Buffer.from(encoded, encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64');
    if (secret.length < MIN_SECRET_BYTES) {
      throw new Error(`entry ${i + 1}: secret must decode to at least ${MIN_SECRET_BYTES} bytes`);
    }
    return { kid, secret };
  });
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw new Error('a kid appears twice');
  return keys;
}

/**
 * The standalone fallback when `KEYPLANE_TOKEN_SIGNING_KEYS` is unset: `token-keys.json` in the
 * data dir, generated once (mode 0600, created atomically so concurrent starters agree) and refused
 * when group/others can read it. Several instances only agree on it when they share the data dir.
 */
export function loadOrCreateTokenKeys(dataDir: string): TokenSigningKey[] {
  const file = path.join(dataDir, 'token-keys.json');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    const key = {
      kid: `kp-${crypto.randomBytes(4).toString('hex')}`,
      secret: crypto.randomBytes(32).toString('base64'),
    };
    createSecretFileAtomically(file, `${JSON.stringify({ keys: [key] }, null, 2)}\n`);
  }
  const text = readSecretFile(file);
  try {
    const parsed = JSON.parse(text) as { keys: { kid: string; secret: string }[] };
    return parseTokenSigningKeys(parsed.keys.map((k) => `${k.kid}:${k.secret}`).join(','));
  } catch (err) {
    // JSON.parse's message quotes the text around the error, which is a secret here.
    const why = err instanceof SyntaxError ? 'not valid JSON' : (err as Error).message;
    throw new Error(`${file} is not a valid token key file: ${why}`);
  }
}
