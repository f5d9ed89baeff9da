import { createCipheriv } from 'node:crypto';
import { buildPssh } from '../../../src/drm/pssh';
import {
  buildPlayReadyObject,
  buildWrmHeader,
  createPlayReady,
  playreadyChecksum,
  playreadyKidBase64,
  playreadyKidBytes,
} from '../../../src/drm/playready';
import {
  at,
  decodePlayReadyObject,
  decodePssh,
  leGuidToUuid,
  parseFragment,
  parseHlsTag,
  parseXml,
  type XmlValue,
} from './decoders';
import { makeContext, SETTINGS } from './context';

const PLAYREADY = '9a04f079-9840-4286-ab92-e65be0885f95';
const HEADER_NS = 'http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader';
const playready = createPlayReady(SETTINGS);

// W3C web-platform-tests, encrypted-media/content/content-metadata.js, 'mp4-basic': a published PlayReady pssh
// (second box of the initData) with its KID and content key.
const WPT_KID = 'ad13f9ea-2be6-98b8-75f5-04a8e3ccea64';
const WPT_KEY = Buffer.from('be7df8a3667a6a8fd564d0ed81339a95', 'hex');
const WPT_LA_URL =
  'http://playready.directtaps.net/pr/svc/rightsmanager.asmx?PlayRight=1&UseSimpleNonPersistentLicense=1';
const WPT_PLAYREADY_PSSH =
  'AAADGnBzc2gAAAAAmgTweZhAQoarkuZb4IhflQAAAvr6AgAAAQABAPACPABXAFIATQBIAEUAQQBEAEUAUgAgAHgAbQBsAG4AcwA9ACIAaAB0AHQAcAA6AC8ALwBzAGMAaABlAG0AYQBzAC4AbQBpAGMAcgBvAHMAbwBmAHQALgBjAG8AbQAvAEQAUgBNAC8AMgAwADAANwAvADAAMwAvAFAAbABhAHkAUgBlAGEAZAB5AEgAZQBhAGQAZQByACIAIAB2AGUAcgBzAGkAbwBuAD0AIgA0AC4AMAAuADAALgAwACIAPgA8AEQAQQBUAEEAPgA8AFAAUgBPAFQARQBDAFQASQBOAEYATwA+ADwASwBFAFkATABFAE4APgAxADYAPAAvAEsARQBZAEwARQBOAD4APABBAEwARwBJAEQAPgBBAEUAUwBDAFQAUgA8AC8AQQBMAEcASQBEAD4APAAvAFAAUgBPAFQARQBDAFQASQBOAEYATwA+ADwASwBJAEQAPgA2AHYAawBUAHIAZQBZAHIAdQBKAGgAMQA5AFEAUwBvADQAOAB6AHEAWgBBAD0APQA8AC8ASwBJAEQAPgA8AEMASABFAEMASwBTAFUATQA+AGoAWQBGAE4AZgAwAHkAZgA0AGkAcwA9ADwALwBDAEgARQBDAEsAUwBVAE0APgA8AEwAQQBfAFUAUgBMAD4AaAB0AHQAcAA6AC8ALwBwAGwAYQB5AHIAZQBhAGQAeQAuAGQAaQByAGUAYwB0AHQAYQBwAHMALgBuAGUAdAAvAHAAcgAvAHMAdgBjAC8AcgBpAGcAaAB0AHMAbQBhAG4AYQBnAGUAcgAuAGEAcwBtAHgAPwBQAGwAYQB5AFIAaQBnAGgAdAA9ADEAJgBhAG0AcAA7AFUAcwBlAFMAaQBtAHAAbABlAE4AbwBuAFAAZQByAHMAaQBzAHQAZQBuAHQATABpAGMAZQBuAHMAZQA9ADEAPAAvAEwAQQBfAFUAUgBMAD4APAAvAEQAQQBUAEEAPgA8AC8AVwBSAE0ASABFAEEARABFAFIAPgA=';

/** AES-128-ECB of the little-endian KID, first 8 bytes — computed here without the module under test. */
function referenceChecksum(key: Buffer, leKid: Buffer): string {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(leKid), cipher.final()])
    .subarray(0, 8)
    .toString('base64');
}

/** Decodes a PRO down to its parsed WRMHEADER, checking the length fields and record type on the way. */
function wrmHeaderOf(pro: Buffer): { xml: string; doc: XmlValue } {
  const decoded = decodePlayReadyObject(pro);
  expect(decoded.recordCount).toBe(1);
  const record = decoded.records[0];
  expect(record?.type).toBe(1);
  expect(record?.length).toBe(pro.length - 10);
  const xml = (record?.value as Buffer).toString('utf16le');
  expect(xml.charCodeAt(0)).not.toBe(0xfeff); // no byte order mark
  return { xml, doc: at(parseXml(xml), 'WRMHEADER') };
}

describe('PlayReady KID and checksum', () => {
  it('writes the KID as a little-endian GUID (known answer from the protocol notes)', () => {
    expect(playreadyKidBase64('98ee5596-cd3e-a20d-163a-e382420c6eff')).toBe('llXumD7NDaIWOuOCQgxu/w==');
    expect(leGuidToUuid(playreadyKidBytes('98ee5596-cd3e-a20d-163a-e382420c6eff'))).toBe(
      '98ee5596-cd3e-a20d-163a-e382420c6eff',
    );
  });

  it('matches the KID and CHECKSUM of the published WPT PlayReady header', () => {
    expect(playreadyKidBase64(WPT_KID)).toBe('6vkTreYruJh19QSo48zqZA==');
    expect(playreadyChecksum(WPT_KEY, WPT_KID)).toBe('jYFNf0yf4is=');
  });

  it('matches a second published checksum vector (public CPIX library test)', () => {
    const key = Buffer.from('DBFD6922C321C4BB486F4A1C44097ED6', 'hex');
    expect(playreadyChecksum(key, '8ba94ade-6eb9-449d-b44f-a5beefaf43b0')).toBe('Me48z71nuqY=');
  });

  it('agrees with an independent AES-ECB computation for another key', () => {
    const ctx = makeContext();
    const le = Buffer.from(playreadyKidBase64(ctx.kid), 'base64');
    expect(playreadyChecksum(ctx.key, ctx.kid)).toBe(referenceChecksum(ctx.key, le));
  });

  it('refuses a key that is not 16 bytes', () => {
    expect(() => playreadyChecksum(Buffer.alloc(15), WPT_KID)).toThrow(RangeError);
  });
});

describe('PlayReady Object', () => {
  it('recreates the published WPT PlayReady pssh byte for byte from the same KID, key and LA_URL', () => {
    const published = Buffer.from(WPT_PLAYREADY_PSSH, 'base64');
    const box = decodePssh(published);
    expect(box).toMatchObject({ version: 0, systemId: PLAYREADY });
    const { xml } = wrmHeaderOf(box.data);

    const header = buildWrmHeader({ kid: WPT_KID, key: WPT_KEY, scheme: 'cenc', laUrl: WPT_LA_URL });
    expect(header).toBe(xml);
    const pro = buildPlayReadyObject(header);
    expect(pro.equals(box.data)).toBe(true);
    expect(buildPssh({ systemId: PLAYREADY, data: pro, version: 0 }).equals(published)).toBe(true);
  });

  it('writes u32 LE length, u16 LE count, and a type-1 record whose u16 LE length covers the UTF-16LE XML', () => {
    const pro = buildPlayReadyObject('<WRMHEADER/>');
    expect(pro.readUInt32LE(0)).toBe(pro.length);
    expect(pro.readUInt16LE(4)).toBe(1);
    expect(pro.readUInt16LE(6)).toBe(1);
    expect(pro.readUInt16LE(8)).toBe(24);
    expect(pro.subarray(10).toString('utf16le')).toBe('<WRMHEADER/>');
  });
});

describe('PlayReady DRM system', () => {
  it('supports cenc and cbcs only (cbc1/cens are not supported by PlayReady)', () => {
    expect(playready.systemIds).toEqual([PLAYREADY]);
    expect([...(playready.schemes ?? [])].sort()).toEqual(['cbcs', 'cenc']);
  });

  it('cenc: WRMHEADER 4.0.0.0 with AESCTR, the LE KID, its checksum and the escaped LA_URL', () => {
    const ctx = makeContext({ scheme: 'cenc' });
    const signal = playready.signal(ctx);
    const box = decodePssh(signal.pssh as Buffer);
    expect(box).toMatchObject({ version: 0, flags: 0, systemId: PLAYREADY, kids: [] });
    const { xml, doc } = wrmHeaderOf(box.data);
    expect(doc['@_xmlns']).toBe(HEADER_NS);
    expect(doc['@_version']).toBe('4.0.0.0');
    const data = at(doc, 'DATA');
    expect(at(data, 'PROTECTINFO', 'KEYLEN')['#text']).toBe('16');
    expect(at(data, 'PROTECTINFO', 'ALGID')['#text']).toBe('AESCTR');
    const kidB64 = at(data, 'KID')['#text'] as string;
    const leKid = Buffer.from(kidB64, 'base64');
    expect(leGuidToUuid(leKid)).toBe(ctx.kid);
    expect(at(data, 'CHECKSUM')['#text']).toBe(referenceChecksum(ctx.key, leKid));
    expect(xml).toContain('<LA_URL>https://pr.example.com/rightsmanager.asmx?a=1&amp;b=2</LA_URL>');
  });

  it('cbcs: WRMHEADER 4.3.0.0 with KIDS/KID ALGID="AESCBC", explicit closing tag and no checksum', () => {
    const ctx = makeContext({ scheme: 'cbcs' });
    const { xml, doc } = wrmHeaderOf(decodePssh(playready.signal(ctx).pssh as Buffer).data);
    expect(doc['@_version']).toBe('4.3.0.0');
    const kid = at(doc, 'DATA', 'PROTECTINFO', 'KIDS', 'KID');
    expect(kid['@_ALGID']).toBe('AESCBC');
    expect(leGuidToUuid(Buffer.from(kid['@_VALUE'] as string, 'base64'))).toBe(ctx.kid);
    expect(xml).not.toContain('CHECKSUM');
    expect(xml).toMatch(/<KID ALGID="AESCBC" VALUE="[^"]+"><\/KID>/);
    expect(at(doc, 'DATA', 'LA_URL')['#text']).toBe(SETTINGS.playreadyLaUrl);
  });

  it('leaves LA_URL out when none is configured', () => {
    const { xml } = wrmHeaderOf(
      createPlayReady({}).signal(makeContext({ spekeVersion: 'v1' })).protectionHeader as Buffer,
    );
    expect(xml).not.toContain('LA_URL');
  });

  it('v1: PSSH and ProtectionHeader (the PRO inside the pssh), defaulting to 4.0 when no scheme is known', () => {
    const signal = playready.signal(makeContext({ spekeVersion: 'v1', scheme: undefined }));
    expect(Object.keys(signal).sort()).toEqual(['protectionHeader', 'pssh']);
    expect(decodePssh(signal.pssh as Buffer).data.equals(signal.protectionHeader as Buffer)).toBe(true);
    expect(wrmHeaderOf(signal.protectionHeader as Buffer).doc['@_version']).toBe('4.0.0.0');
  });

  it('v2: ContentProtectionData holds <cenc:pssh> and <mspr:pro> with their namespaces', () => {
    const signal = playready.signal(makeContext());
    const frag = parseFragment(signal.contentProtectionData ?? '');
    const pssh = at(frag, 'cenc:pssh');
    expect(pssh['@_xmlns:cenc']).toBe('urn:mpeg:cenc:2013');
    expect(Buffer.from(pssh['#text'] as string, 'base64').equals(signal.pssh as Buffer)).toBe(true);
    const pro = at(frag, 'mspr:pro');
    expect(pro['@_xmlns:mspr']).toBe('urn:microsoft:playready');
    expect(Buffer.from(pro['#text'] as string, 'base64').equals(decodePssh(signal.pssh as Buffer).data)).toBe(true);
  });

  it('v2: SmoothStreamingProtectionHeaderData gets the PRO (the one inside the pssh)', () => {
    const signal = playready.signal(makeContext());
    expect(decodePssh(signal.pssh as Buffer).data.equals(signal.protectionHeader as Buffer)).toBe(true);
  });

  it('v2: HLS lines in AWS order with the PRO as a UTF-16 data URI', () => {
    const signal = playready.signal(makeContext({ scheme: 'cbcs' }));
    const media = parseHlsTag(signal.hlsSignaling?.media ?? '');
    const master = parseHlsTag(signal.hlsSignaling?.master ?? '');
    expect([media.tag, master.tag]).toEqual(['#EXT-X-KEY', '#EXT-X-SESSION-KEY']);
    expect(master.attrs).toEqual(media.attrs);
    expect(media.attrs.map(([n]) => n)).toEqual(['METHOD', 'KEYFORMAT', 'KEYFORMATVERSIONS', 'URI']);
    const attrs = Object.fromEntries(media.attrs);
    expect(attrs).toMatchObject({ METHOD: 'SAMPLE-AES', KEYFORMAT: 'com.microsoft.playready', KEYFORMATVERSIONS: '1' });
    const prefix = 'data:text/plain;charset=UTF-16;base64,';
    expect(attrs.URI?.startsWith(prefix)).toBe(true);
    const pro = Buffer.from(attrs.URI?.slice(prefix.length) ?? '', 'base64');
    expect(wrmHeaderOf(pro).doc['@_version']).toBe('4.3.0.0');
  });

  it.each([
    ['cbcs', 'SAMPLE-AES'],
    ['cenc', 'SAMPLE-AES-CTR'],
  ] as const)('v2: a %s key is signalled in HLS as METHOD=%s', (scheme, method) => {
    const signal = playready.signal(makeContext({ scheme }));
    for (const line of [signal.hlsSignaling?.media, signal.hlsSignaling?.master]) {
      expect(Object.fromEntries(parseHlsTag(line ?? '').attrs).METHOD).toBe(method);
    }
  });
});
