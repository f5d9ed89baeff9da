import {
  buildWidevinePssh,
  createWidevine,
  encodeVarint,
  encodeWidevinePsshData,
  fourCc,
} from '../../../src/drm/widevine';
import { at, decodeProtobuf, decodePssh, parseFragment, parseHlsTag, readVarint, type ProtoField } from './decoders';
import { makeContext, SETTINGS } from './context';

const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';
const widevine = createWidevine(SETTINGS);

function fieldsNumbered(fields: ProtoField[], n: number): ProtoField[] {
  return fields.filter((f) => f.field === n);
}

function psshDataFields(pssh: Buffer | undefined): ProtoField[] {
  if (!pssh) throw new Error('no pssh');
  const box = decodePssh(pssh);
  expect(box).toMatchObject({ type: 'pssh', version: 0, flags: 0, systemId: WIDEVINE, kids: [] });
  return decodeProtobuf(box.data);
}

describe('protobuf writer', () => {
  it.each([
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [0xffffffff, 'ffffffff0f'],
  ])('encodes %d as varint %s', (value, hex) => {
    expect(encodeVarint(value).toString('hex')).toBe(hex);
    expect(readVarint(Buffer.from(hex, 'hex'), 0).value).toBe(value);
  });

  it('refuses values that are not uint32', () => {
    expect(() => encodeVarint(-1)).toThrow(RangeError);
    expect(() => encodeVarint(2 ** 32)).toThrow(RangeError);
    expect(() => encodeVarint(1.5)).toThrow(RangeError);
  });

  it('maps schemes to big-endian FourCC integers', () => {
    expect(fourCc('cenc')).toBe(0x63656e63);
    expect(fourCc('cbcs')).toBe(1667392371);
    expect(fourCc('cbc1')).toBe(0x63626331);
    expect(fourCc('cens')).toBe(0x63656e73);
    expect(() => fourCc('cbc')).toThrow(RangeError);
  });
});

describe('encodeWidevinePsshData', () => {
  it('writes key_id (2), provider (3), content_id (4) and protection_scheme (9) with the right wire types', () => {
    const kid = Buffer.from('98ee5596cd3ea20d163ae382420c6eff', 'hex');
    const fields = decodeProtobuf(
      encodeWidevinePsshData({
        keyIds: [kid],
        provider: 'prov',
        contentId: Buffer.from('cid'),
        protectionScheme: 'cbcs',
      }),
    );
    expect(fields.map((f) => [f.field, f.wireType])).toEqual([
      [2, 2],
      [3, 2],
      [4, 2],
      [9, 0],
    ]);
    expect((fields[0]?.value as Buffer).equals(kid)).toBe(true);
    expect((fields[1]?.value as Buffer).toString('utf8')).toBe('prov');
    expect((fields[2]?.value as Buffer).toString('utf8')).toBe('cid');
    expect(fields[3]?.value).toBe(0x63626373);
  });

  it('repeats key_id for several KIDs and leaves empty optional fields out', () => {
    const kids = [Buffer.alloc(16, 1), Buffer.alloc(16, 2)];
    const fields = decodeProtobuf(encodeWidevinePsshData({ keyIds: kids, provider: '', contentId: Buffer.alloc(0) }));
    expect(fields.map((f) => f.field)).toEqual([2, 2]);
    expect((fields[1]?.value as Buffer).equals(kids[1] as Buffer)).toBe(true);
  });

  it('reproduces the key_id/provider/content_id bytes of a published Widevine pssh (W3C WPT mp4-basic)', () => {
    // web-platform-tests encrypted-media/content/content-metadata.js, 'mp4-basic' initData (first box).
    const published = Buffer.from(
      'AAAAcXBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAFEIARIQrRP56ivmmLh19QSo48zqZBoIY2FzdGxhYnMiKGV5SmhjM05sZEVsa0lqb2laVzFsTFhSbGMzUXRjMmx1WjJ4bEluMD0yB2RlZmF1bHQ=',
      'base64',
    );
    const data = decodePssh(published).data;
    const fields = decodeProtobuf(data);
    expect(fields.map((f) => f.field)).toEqual([1, 2, 3, 4, 6]);
    expect(fields[0]?.value).toBe(1); // algorithm = AESCTR (deprecated field, not written by Keyplane)
    const kid = fieldsNumbered(fields, 2)[0]?.value as Buffer;
    expect(kid.toString('hex')).toBe('ad13f9ea2be698b875f504a8e3ccea64');
    const provider = (fieldsNumbered(fields, 3)[0]?.value as Buffer).toString('utf8');
    expect(provider).toBe('castlabs');
    const contentId = fieldsNumbered(fields, 4)[0]?.value as Buffer;
    expect(JSON.parse(Buffer.from(contentId.toString(), 'base64').toString())).toEqual({ assetId: 'eme-test-single' });
    expect((fieldsNumbered(fields, 6)[0]?.value as Buffer).toString()).toBe('default');

    const ours = encodeWidevinePsshData({ keyIds: [kid], provider, contentId });
    const span = data.subarray(fields[1]?.start, fields[3]?.end);
    expect(ours.equals(span)).toBe(true);
  });
});

describe('Widevine DRM system', () => {
  it('declares its system ID and all four CENC schemes', () => {
    expect(widevine.systemIds).toEqual([WIDEVINE]);
    expect([...(widevine.schemes ?? [])].sort()).toEqual(['cbc1', 'cbcs', 'cenc', 'cens']);
  });

  it('v1: a v0 pssh with the KID, the configured provider and the resource ID, and nothing else', () => {
    const signal = widevine.signal(makeContext({ spekeVersion: 'v1', scheme: undefined }));
    expect(Object.keys(signal)).toEqual(['pssh']);
    const fields = psshDataFields(signal.pssh);
    expect(fields.map((f) => f.field)).toEqual([2, 3, 4]);
    expect((fields[0]?.value as Buffer).toString('hex')).toBe('98ee5596cd3ea20d163ae382420c6eff');
    expect((fields[1]?.value as Buffer).toString('utf8')).toBe('keyplane-test');
    expect((fields[2]?.value as Buffer).toString('utf8')).toBe('movie-42');
  });

  it.each([
    ['cenc', 0x63656e63],
    ['cbcs', 0x63626373],
  ] as const)('v2 %s: protection_scheme carries the FourCC', (scheme, value) => {
    const fields = psshDataFields(widevine.signal(makeContext({ scheme })).pssh);
    expect(fieldsNumbered(fields, 9).map((f) => [f.wireType, f.value])).toEqual([[0, value]]);
  });

  it('encodes the resource ID as UTF-8 and follows each request', () => {
    const a = psshDataFields(buildWidevinePssh(makeContext({ resourceId: 'fïlm/≈' }), 'p'));
    expect((fieldsNumbered(a, 4)[0]?.value as Buffer).equals(Buffer.from('fïlm/≈', 'utf8'))).toBe(true);
    const b = psshDataFields(buildWidevinePssh(makeContext({ kid: '00000000-0000-0000-0000-000000000001' }), 'p'));
    expect((fieldsNumbered(b, 2)[0]?.value as Buffer).toString('hex')).toBe('00000000000000000000000000000001');
  });

  it('v2: ContentProtectionData is a standalone <cenc:pssh> holding the same box', () => {
    const signal = widevine.signal(makeContext());
    const frag = parseFragment(signal.contentProtectionData ?? '');
    const el = at(frag, 'cenc:pssh');
    expect(el['@_xmlns:cenc']).toBe('urn:mpeg:cenc:2013');
    expect(Buffer.from(el['#text'] as string, 'base64').equals(signal.pssh as Buffer)).toBe(true);
  });

  it('v2: HLS media/master lines carry the pssh as a data URI, in the AWS shape, with identical attributes', () => {
    const signal = widevine.signal(makeContext({ scheme: 'cbcs' }));
    const media = parseHlsTag(signal.hlsSignaling?.media ?? '');
    const master = parseHlsTag(signal.hlsSignaling?.master ?? '');
    expect(media.tag).toBe('#EXT-X-KEY');
    expect(master.tag).toBe('#EXT-X-SESSION-KEY');
    expect(master.attrs).toEqual(media.attrs);
    expect(media.attrs.map(([name]) => name)).toEqual(['METHOD', 'URI', 'KEYFORMAT', 'KEYFORMATVERSIONS']);
    const attrs = Object.fromEntries(media.attrs);
    expect(attrs.METHOD).toBe('SAMPLE-AES');
    expect(attrs.KEYFORMAT).toBe(`urn:uuid:${WIDEVINE}`);
    expect(attrs.KEYFORMATVERSIONS).toBe('1');
    const prefix = 'data:text/plain;base64,';
    expect(attrs.URI?.startsWith(prefix)).toBe(true);
    expect(Buffer.from(attrs.URI?.slice(prefix.length) ?? '', 'base64').equals(signal.pssh as Buffer)).toBe(true);
  });

  it.each([
    ['cbcs', 'SAMPLE-AES'],
    ['cenc', 'SAMPLE-AES-CTR'],
  ] as const)('v2: a %s key is signalled in HLS as METHOD=%s', (scheme, method) => {
    const signal = widevine.signal(makeContext({ scheme }));
    for (const line of [signal.hlsSignaling?.media, signal.hlsSignaling?.master]) {
      expect(Object.fromEntries(parseHlsTag(line ?? '').attrs).METHOD).toBe(method);
    }
  });
});
