import fc from 'fast-check';
import { BadRequestError } from '../../../src/errors';
import { buildPssh, bytesToUuid, InvalidUuidError, uuidToBytes } from '../../../src/drm/pssh';
import { decodePssh } from './decoders';

const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';
const COMMON = '1077efec-c0b2-4d02-ace3-3c1e52e2fb4b';

describe('uuidToBytes / bytesToUuid', () => {
  it('keeps the written byte order (big-endian UUID)', () => {
    expect(uuidToBytes(WIDEVINE).toString('hex')).toBe('edef8ba979d64acea3c827dcd51d21ed');
  });

  it('accepts upper case and missing hyphens, and round-trips to lower-case hyphenated form', () => {
    const bytes = uuidToBytes('EDEF8BA979D64ACEA3C827DCD51D21ED');
    expect(bytesToUuid(bytes)).toBe(WIDEVINE);
  });

  it.each([
    '',
    'not-a-uuid',
    'edef8ba9-79d6-4ace-a3c8-27dcd51d21e',
    'edef8ba9-79d6-4ace-a3c8-27dcd51d21edff',
    'gdef8ba9-79d6-4ace-a3c8-27dcd51d21ed',
  ])('rejects %j as a client error', (bad) => {
    expect(() => uuidToBytes(bad)).toThrow(InvalidUuidError);
    expect(() => uuidToBytes(bad)).toThrow(BadRequestError);
  });

  it('reads any hyphenated UUID, any case, to the bytes its hex digits spell', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, upper) => {
        const hex = Buffer.from(bytes).toString('hex');
        const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
        expect(uuidToBytes(upper ? uuid.toUpperCase() : uuid).toString('hex')).toBe(hex);
      }),
    );
  });

  it.each([
    'edef8ba9-79d6-4ace-a3c8-27dcd51d21eé',
    'edef8ba9-79d6-4ace-a3c8-27dcd51d2 ed',
    'edef8ba9-79d6-4ace-a3c8-27dcd51d21e-',
  ])('rejects the 36-character near-miss %j', (bad) => expect(() => uuidToBytes(bad)).toThrow(InvalidUuidError));

  it('refuses anything but 16 bytes', () => {
    expect(() => bytesToUuid(Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('buildPssh', () => {
  it('writes a version 0 box: size, type, version/flags, system ID, data size, data', () => {
    const data = Buffer.from('0a0b0c', 'hex');
    const box = buildPssh({ systemId: WIDEVINE, data, version: 0 });
    expect(box.length).toBe(4 + 4 + 4 + 16 + 4 + 3);
    const d = decodePssh(box);
    expect(d).toMatchObject({
      size: 35,
      type: 'pssh',
      version: 0,
      flags: 0,
      systemId: WIDEVINE,
      kids: [],
      dataSize: 3,
    });
    expect(d.data.equals(data)).toBe(true);
    expect(box.subarray(12, 28).toString('hex')).toBe('edef8ba979d64acea3c827dcd51d21ed');
  });

  it('writes a version 1 box with the KID count and each KID, and an empty data section', () => {
    const kids = ['00112233-4455-6677-8899-aabbccddeeff', 'ffeeddcc-bbaa-9988-7766-554433221100'];
    const box = buildPssh({ systemId: COMMON, kids, version: 1 });
    expect(box.length).toBe(8 + 4 + 16 + 4 + 2 * 16 + 4);
    expect(box.readUInt32BE(28)).toBe(2);
    expect(box.subarray(32, 48).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    const d = decodePssh(box);
    expect(d).toMatchObject({ version: 1, flags: 0, systemId: COMMON, kids, dataSize: 0 });
  });

  it('refuses a KID list in a version 0 box', () => {
    expect(() => buildPssh({ systemId: WIDEVINE, kids: [COMMON], version: 0 })).toThrow(RangeError);
  });

  it('recreates the published common pssh example from the Unified Streaming CPIX docs', () => {
    // docs.unified-streaming.com, "CPIX Signaling Behaviour": a v1 common pssh with one KID.
    const published = Buffer.from('AAAANHBzc2gBAAAAEHfv7MCyTQKs4zweUuL7SwAAAAHoLxhMOqpXtKzoYGteP+utAAAAAA==', 'base64');
    const d = decodePssh(published);
    expect(d).toMatchObject({ size: 52, version: 1, systemId: COMMON, dataSize: 0 });
    expect(d.kids).toEqual(['e82f184c-3aaa-57b4-ace8-606b5e3febad']);
    expect(buildPssh({ systemId: COMMON, kids: d.kids, version: 1 }).equals(published)).toBe(true);
  });

  it('recreates the framing of a published Widevine pssh (W3C web-platform-tests mp4-basic)', () => {
    const published = Buffer.from(
      'AAAAcXBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAFEIARIQrRP56ivmmLh19QSo48zqZBoIY2FzdGxhYnMiKGV5SmhjM05sZEVsa0lqb2laVzFsTFhSbGMzUXRjMmx1WjJ4bEluMD0yB2RlZmF1bHQ=',
      'base64',
    );
    const d = decodePssh(published);
    expect(d).toMatchObject({ size: 113, version: 0, systemId: WIDEVINE, dataSize: 81 });
    expect(buildPssh({ systemId: WIDEVINE, data: d.data, version: 0 }).equals(published)).toBe(true);
  });
});
