import crypto from 'node:crypto';
import { encodeWidevinePsshData } from '../../../src/drm/widevine';
import { readWidevinePsshData } from '../../../src/widevine/pssh-data';

const kid = () => crypto.randomBytes(16);

describe('readWidevinePsshData', () => {
  it('reads what Keyplane writes: key IDs, content ID; skips provider and protection_scheme', () => {
    const keyIds = [kid(), kid()];
    const data = encodeWidevinePsshData({
      keyIds,
      provider: 'keyplane',
      contentId: Buffer.from('movie-1'),
      protectionScheme: 'cbcs',
    });
    expect(readWidevinePsshData(data)).toEqual({ keyIds, contentId: Buffer.from('movie-1') });
  });

  it('skips fixed-width fields (wire types 1 and 5)', () => {
    const k = kid();
    const data = Buffer.concat([
      Buffer.from([0x09]),
      Buffer.alloc(8),
      Buffer.from([0x15]),
      Buffer.alloc(4),
      Buffer.from([0x12, 0x10]),
      k,
    ]);
    expect(readWidevinePsshData(data).keyIds).toEqual([k]);
  });

  it.each([
    ['no key_id', Buffer.from([0x08, 0x01]), 'no key_id'],
    ['a short key_id', Buffer.from([0x12, 0x02, 0x01, 0x02]), 'not 16 bytes'],
    ['a length past the end', Buffer.from([0x12, 0x7f, 0x00]), 'past the end'],
    ['a varint past the end', Buffer.from([0x08, 0xff]), 'past the end'],
    ['a 6-byte varint', Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'longer than 5 bytes'],
    ['a group (wire type 3)', Buffer.from([0x0b]), 'wire type 3'],
    [
      '61 key IDs',
      Buffer.concat(Array.from({ length: 61 }, () => Buffer.concat([Buffer.from([0x12, 0x10]), kid()]))),
      'more than 60',
    ],
  ])('%s → INVALID_WIDEVINE_PSSH saying so', (_what, data, message) => {
    expect(() => readWidevinePsshData(data)).toThrow(message);
  });
});
