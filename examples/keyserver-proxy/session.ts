import crypto from 'node:crypto';

/** The demo's session cookie name. */
export const SESSION_COOKIE = 'kp_demo_session';

const USER = /^[A-Za-z0-9._@-]{1,64}$/;

function mac(secret: string, payload: string): string {
  return crypto.createHmac('sha256', secret).update(payload).digest('base64url');
}

/** Signs a session: `<user>.<expires (Unix s)>.<HMAC-SHA256 base64url>`. */
export function signSession(secret: string, user: string, expiresAt: number): string {
  if (!USER.test(user)) throw new Error('user must be 1-64 of A-Z a-z 0-9 . _ @ -');
  const payload = `${user}.${expiresAt}`;
  return `${payload}.${mac(secret, payload)}`;
}

/** The user of a valid, unexpired session value, else undefined (constant-time signature check). */
export function verifySession(secret: string, value: string | undefined, now = Date.now()): string | undefined {
  const match = /^([A-Za-z0-9._@-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!match) return undefined;
  const [, user, expires, signature] = match as unknown as [string, string, string, string];
  const expected = Buffer.from(mac(secret, `${user}.${expires}`));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return undefined;
  return Number(expires) * 1000 > now ? user : undefined;
}

/** One cookie's value from a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
