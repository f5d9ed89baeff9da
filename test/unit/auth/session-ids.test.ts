import crypto from 'node:crypto';
import {
  SessionClientError,
  SessionExpiredError,
  SessionIds,
  sessionSecretFromMasterKey,
  UnknownSessionError,
} from '../../../src/auth/session-ids';

const SECRET = crypto.randomBytes(32);

function clock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => new Date(t), advance: (s: number) => (t += s * 1000) };
}

describe('SessionIds', () => {
  it('round-trips the claims and derives a 16-byte key per session', () => {
    const ids = new SessionIds(SECRET, 3600);
    const a = ids.open({ resourceId: 'movie-1', tenant: 'acme' });
    const b = ids.open({ resourceId: 'movie-1', tenant: 'acme' });
    expect(ids.verify(a.id)).toEqual(a.claims);
    expect(a.claims.nonce).not.toBe(b.claims.nonce);
    expect(Buffer.from(a.claims.nonce, 'base64url')).toHaveLength(16);
    expect(ids.key(a.id)).toHaveLength(16);
    expect(ids.key(a.id).equals(ids.key(b.id))).toBe(false);
    // Another instance with the same secret: same claims, same key.
    const other = new SessionIds(Buffer.from(SECRET), 3600);
    expect(other.verify(a.id)).toEqual(a.claims);
    expect(other.key(a.id).equals(ids.key(a.id))).toBe(true);
  });

  it('refuses ids it did not issue: other secret, changed payload, changed MAC, junk', () => {
    const ids = new SessionIds(SECRET, 3600);
    const { id } = ids.open({ resourceId: 'movie-1', tenant: 'acme' });
    const [v, body, mac] = id.split('.') as [string, string, string];
    const forgedBody = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), r: 'movie-2' }),
    ).toString('base64url');
    const flipped = Buffer.from(mac, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    for (const bad of [
      new SessionIds(crypto.randomBytes(32), 3600).open({ resourceId: 'movie-1', tenant: 'acme' }).id,
      `${v}.${forgedBody}.${mac}`,
      `${v}.${body}.${flipped.toString('base64url')}`,
      `${v}.${body}.${mac.slice(0, 10)}`,
      'v1..',
      'hls',
      `${v}.${body}.${mac}`.repeat(10),
    ]) {
      expect(() => ids.verify(bad)).toThrow(UnknownSessionError);
    }
  });

  it('takes one spelling per id: the MAC tag with other spare bits is refused, so one session has one key', () => {
    const ids = new SessionIds(SECRET, 3600);
    const { id } = ids.open({ resourceId: 'movie-1', tenant: 'acme' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(id.at(-1) as string);
    // A 32-byte tag ends in a character of 4 data bits and 2 spare ones: these three decode to the same bytes.
    for (const spare of [1, 2, 3]) {
      const twin = `${id.slice(0, -1)}${alphabet[last ^ spare]}`;
      expect(Buffer.from(twin.split('.')[2] as string, 'base64url')).toEqual(
        Buffer.from(id.split('.')[2] as string, 'base64url'),
      );
      expect(() => ids.verify(twin)).toThrow(UnknownSessionError);
    }
    expect(ids.verify(id).resourceId).toBe('movie-1');
  });

  it('expires after the TTL (410) and binds the client address when asked', () => {
    const c = clock();
    const ids = new SessionIds(SECRET, 60, c.now);
    const { id } = ids.open({ resourceId: 'movie-1', tenant: 'acme', clientIp: '192.0.2.1' });
    expect(ids.verify(id, '192.0.2.1').expiresAt).toBe(Date.parse('2026-01-01T00:01:00Z') / 1000);
    expect(() => ids.verify(id, '192.0.2.2')).toThrow(SessionClientError);
    c.advance(59);
    expect(() => ids.verify(id, '192.0.2.1')).not.toThrow();
    c.advance(1);
    expect(() => ids.verify(id, '192.0.2.1')).toThrow(SessionExpiredError);
  });

  it('refuses a short secret; the master-key derivation is stable and domain-separated', () => {
    expect(() => new SessionIds(Buffer.alloc(16), 60)).toThrow(/32 bytes/);
    const master = crypto.randomBytes(32);
    expect(sessionSecretFromMasterKey(master).equals(sessionSecretFromMasterKey(Buffer.from(master)))).toBe(true);
    expect(sessionSecretFromMasterKey(master).equals(master)).toBe(false);
  });
});
