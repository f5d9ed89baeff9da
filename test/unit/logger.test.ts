import { createLogger, redactSecrets } from '../../src/logger';
import { duplicateKeys } from '../helpers/json-keys';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2b2QifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const API_KEY = `kp_0123456789abcdef_${'A'.repeat(43)}`;

function capture(level = 'trace') {
  const lines: string[] = [];
  return { logger: createLogger(level, { write: (line: string) => void lines.push(line) }), lines };
}

describe('redactSecrets', () => {
  it.each([
    [`/playback/${JWT}/keys/vod/kid`, '/playback/[redacted]/keys/vod/kid'],
    ['/playback/not-even-a-jwt/hls/vod/a.m3u8', '/playback/[redacted]/hls/vod/a.m3u8'],
    ['/secure/c1_vod/SIGNATURE123/1700000000/keys/k', '/secure/c1_vod/[redacted]/1700000000/keys/k'],
    [`/keys/vod/kid?a=1&token=${JWT}&b=2`, '/keys/vod/kid?a=1&token=[redacted]&b=2'],
    ['?X-Amz-Signature=abcdef&X-Amz-Credential=AKIA/x', '?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]'],
    [`Authorization: Bearer ${API_KEY}`, 'Authorization: Bearer [redacted]'],
    [`key ${API_KEY} here`, 'key kp_[redacted] here'],
    [`a ${JWT} b`, 'a [redacted] b'],
    ['/playback/:token/keys/:resourceId/:kid', '/playback/:token/keys/:resourceId/:kid'],
    // A JWS at the start of the text or after any non-base64url character; a run of `eyJ` is left whole.
    [`${JWT}`, '[redacted]'],
    [`/x/${JWT}/y`, '/x/[redacted]/y'],
    [`a=${JWT}&b`, 'a=[redacted]&b'],
    [`"${JWT}"`, '"[redacted]"'],
    [`/${'eyJ'.repeat(5)}`, `/${'eyJ'.repeat(5)}`],
  ])('%s → %s', (text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });
});

describe('createLogger', () => {
  it('redacts credentials by field and by shape at trace, in messages, objects and errors', () => {
    const { logger, lines } = capture();
    logger.trace(
      {
        req: { headers: { authorization: `Bearer ${JWT}`, 'x-api-key': API_KEY, cookie: `token=${JWT}` } },
        headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=deadbeef' },
        token: 'opaque-token-value',
        secret: 'opaque-secret-value',
        url: `/keys/v/k?token=${JWT}`,
        path: `/playback/${JWT}/hls/v/a.m3u8`,
        nested: { deeper: { token: 'nested-token-value' } },
        err: new Error(`failed for /playback/${JWT}/keys/v/k with ${API_KEY}`),
      },
      `asked with ${JWT} and ${API_KEY}`,
    );
    const out = lines.join('');
    for (const secret of [
      JWT,
      API_KEY,
      'deadbeef',
      'opaque-token-value',
      'opaque-secret-value',
      'nested-token-value',
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
    expect(JSON.parse(lines[0] as string).msg).toBe('asked with [redacted] and kp_[redacted]');
  });

  it('writes one msg per line: no duplicate keys in any line', () => {
    const { logger, lines } = capture();
    logger.info(
      { requestId: 'r', status: 401, code: 'unauthorized', error: 'Invalid playback token' },
      'request rejected',
    );
    logger.warn({ a: { b: 1, c: [1, { d: 2 }] } }, 'x');
    for (const line of lines) expect(duplicateKeys(line.trim())).toEqual([]);
  });

  it('duplicateKeys sees what JSON.parse hides', () => {
    expect(duplicateKeys('{"msg":"a","x":{"y":1,"y":2},"msg":"b"}')).toEqual(['x.y', 'msg']);
  });
});
