import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildCpixRequest, type CpixRequestSpec } from '../../../src/cli/cpix-request-builder';
import { UsageError } from '../../../src/cli/cli-errors';
import { DRM_NAMES, defaultScheme, parseDrmList } from '../../../src/cli/drm-names';
import { allPresetPairs, parsePreset, presetLabel, presetRules } from '../../../src/cli/presets';
import { NS } from '../../../src/cpix/namespaces';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { attr, childElements, firstChild, type XmlElement } from '../../../src/cpix/xml-tree';
import { SYSTEM_IDS } from '../../../src/drm/drm-system';
import { SHARED } from '../../helpers/paths';

const XSD = path.join(SHARED, 'docs/xsd/cpix-2.3/cpix.xsd');

/** KIDs 00000000-0000-4000-8000-00000000000N, so documents are predictable. */
function counterKids(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

const items = (root: XmlElement, list: string, item: string) =>
  childElements(firstChild(root, NS.cpix, list) as XmlElement, NS.cpix, item);

function xsdErrors(xml: string): string | undefined {
  const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', XSD, '-'], { input: xml, encoding: 'utf8' });
  if (run.error) throw new Error('xmllint is needed by this test (apt-get install libxml2-utils)');
  return run.status === 0 ? undefined : run.stderr;
}

describe('SPEKE v1 requests', () => {
  const spec: CpixRequestSpec = {
    speke: '1.0',
    resourceId: 'movie-1',
    drms: ['hls-aes128', 'widevine', 'playready'],
    keyCount: 2,
    newKid: counterKids(),
  };

  it('name the resource in CPIX@id and ask for each key in every DRM system, with placeholders', () => {
    const built = buildCpixRequest(spec);
    expect(attr(built.root, 'id')).toBe('movie-1');
    expect(attr(built.root, 'contentId')).toBeUndefined();
    expect(built.keys.map((k) => k.kid)).toEqual([
      '00000000-0000-4000-8000-000000000001',
      '00000000-0000-4000-8000-000000000002',
    ]);
    const keys = items(built.root, 'ContentKeyList', 'ContentKey');
    expect(keys.map((k) => attr(k, 'commonEncryptionScheme'))).toEqual([undefined, undefined]);
    const drms = items(built.root, 'DRMSystemList', 'DRMSystem');
    expect(drms).toHaveLength(6);
    const hls = drms.find((d) => attr(d, 'systemId') === SYSTEM_IDS.hlsAes128) as XmlElement;
    expect(hls.children.map((c) => (c as XmlElement).qname)).toEqual([
      'cpix:URIExtXKey',
      'speke:KeyFormat',
      'speke:KeyFormatVersions',
    ]);
    const playready = drms.find((d) => attr(d, 'systemId') === SYSTEM_IDS.playready) as XmlElement;
    expect(firstChild(playready, NS.speke, 'ProtectionHeader')).toBeDefined();
    expect(firstChild(built.root, NS.cpix, 'ContentKeyUsageRuleList')).toBeUndefined();
  });

  it('are accepted by the CPIX parser as SPEKE v1', () => {
    const built = buildCpixRequest({ ...spec, newKid: undefined });
    const parsed = parseCpix(built.xml, '1.0');
    expect(parsed.resourceId).toBe('movie-1');
    expect(parsed.contentKeys.map((k) => k.kid)).toEqual(built.keys.map((k) => k.kid));
    expect(parsed.drmSystems).toHaveLength(6);
  });

  it('ask for keys per key period with --rotation, each rule pointing at its period', () => {
    const built = buildCpixRequest({
      ...spec,
      drms: ['hls-aes128'],
      keyCount: 1,
      rotation: { count: 3, firstIndex: 40 },
    });
    expect(built.keys.map((k) => k.periodIndex)).toEqual([40, 41, 42]);
    const parsed = parseCpix(built.xml, '1.0');
    expect(parsed.periods.map((p) => p.index)).toEqual([40, 41, 42]);
    expect(parsed.usageRules.map((r) => r.periodIds)).toEqual([['keyPeriod_40'], ['keyPeriod_41'], ['keyPeriod_42']]);
  });
});

describe('SPEKE v2 requests', () => {
  it.each(allPresetPairs().map((p) => [presetLabel(p), p] as const))(
    '%s: one key per track type, XSD-valid CPIX 2.3',
    (_label, preset) => {
      const built = buildCpixRequest({
        speke: '2.0',
        resourceId: 'show-7',
        drms: ['widevine', 'fairplay'],
        preset,
        newKid: counterKids(),
      });
      expect(attr(built.root, 'contentId')).toBe('show-7');
      expect(attr(built.root, 'version')).toBe('2.3');
      const rules = items(built.root, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule');
      expect(rules.map((r) => attr(r, 'intendedTrackType'))).toEqual(presetRules(preset).map((r) => r.trackType));
      expect(rules.map((r) => attr(r, 'kid'))).toEqual(built.keys.map((k) => k.kid));
      const schemes = items(built.root, 'ContentKeyList', 'ContentKey').map((k) => attr(k, 'commonEncryptionScheme'));
      expect(new Set(schemes)).toEqual(new Set(['cbcs']));
      expect(xsdErrors(built.xml)).toBeUndefined();
      expect(parseCpix(built.xml, '2.0').usageRules).toHaveLength(built.keys.length);
    },
  );

  it('put HLSSignalingData placeholders (media, master) for HLS systems and PSSH + ContentProtectionData for the others', () => {
    const built = buildCpixRequest({
      speke: '2.0',
      resourceId: 'x',
      drms: ['hls-aes128', 'clearkey'],
      newKid: counterKids(),
    });
    const [hls, clearkey] = items(built.root, 'DRMSystemList', 'DRMSystem');
    expect(childElements(hls as XmlElement, NS.cpix, 'HLSSignalingData').map((e) => attr(e, 'playlist'))).toEqual([
      'media',
      'master',
    ]);
    expect((clearkey as XmlElement).children.map((c) => (c as XmlElement).local)).toEqual([
      'PSSH',
      'ContentProtectionData',
    ]);
  });

  it('carry the filters of the preset: SD+HD1 has two VideoFilters, SHARED one empty Video and Audio filter', () => {
    const combined = buildCpixRequest({
      speke: '2.0',
      resourceId: 'x',
      drms: ['widevine'],
      preset: parsePreset('PRESET-VIDEO-7:PRESET-AUDIO-1'),
    });
    const sdHd1 = items(combined.root, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule')[0] as XmlElement;
    expect(
      childElements(sdHd1, NS.cpix, 'VideoFilter').map((f) => [attr(f, 'minPixels'), attr(f, 'maxPixels')]),
    ).toEqual([
      [undefined, String(1024 * 576)],
      [String(1024 * 576 + 1), String(1280 * 720)],
    ]);
    const shared = buildCpixRequest({
      speke: '2.0',
      resourceId: 'x',
      drms: ['widevine'],
      preset: parsePreset('SHARED:SHARED'),
    });
    const all = items(shared.root, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule');
    expect(all.map((r) => attr(r, 'intendedTrackType'))).toEqual(['ALL']);
    expect(
      (all[0] as XmlElement).children.map((c) => [(c as XmlElement).local, (c as XmlElement).attrs.length]),
    ).toEqual([
      ['VideoFilter', 0],
      ['AudioFilter', 0],
    ]);
  });

  it('with a certificate: DeliveryDataList first, the certificate DER in ds:X509Certificate', () => {
    const der = Buffer.from(
      fs.readFileSync(path.join(__dirname, '../../fixtures/certs/delivery.der.b64'), 'utf8').trim(),
      'base64',
    );
    const built = buildCpixRequest({ speke: '2.0', resourceId: 'x', drms: ['widevine'], certificateDer: der });
    const first = built.root.children[0] as XmlElement;
    expect(first.local).toBe('DeliveryDataList');
    const parsed = parseCpix(built.xml, '2.0');
    expect(parsed.deliveryCertificate?.equals(der)).toBe(true);
  });

  it('use an explicit scheme when given, and otherwise cbcs only when an HLS system is asked for', () => {
    expect(defaultScheme(['widevine', 'playready'])).toBe('cenc');
    expect(defaultScheme(['widevine', 'fairplay'])).toBe('cbcs');
    const built = buildCpixRequest({ speke: '2.0', resourceId: 'x', drms: ['widevine'], scheme: 'cens' });
    expect(items(built.root, 'ContentKeyList', 'ContentKey').map((k) => attr(k, 'commonEncryptionScheme'))).toEqual([
      'cens',
      'cens',
    ]);
  });
});

describe('presets and DRM names', () => {
  it('accept MediaConvert spelling and reject the combinations AWS forbids, naming the fix', () => {
    expect(parsePreset('preset_video_3:PRESET_AUDIO_2')).toEqual({ video: 'PRESET-VIDEO-3', audio: 'PRESET-AUDIO-2' });
    expect(() => parsePreset('SHARED:PRESET-AUDIO-1')).toThrow(/SHARED must be used for both/);
    expect(() => parsePreset('UNENCRYPTED:UNENCRYPTED')).toThrow(/cannot both be UNENCRYPTED/);
    expect(() => parsePreset('PRESET-VIDEO-9:PRESET-AUDIO-1')).toThrow(/unknown video preset "PRESET-VIDEO-9"/);
    expect(() => parsePreset('PRESET-VIDEO-1')).toThrow(UsageError);
  });

  it('cover 8 x 3 preset pairs plus SHARED and 11 UNENCRYPTED combinations', () => {
    expect(allPresetPairs()).toHaveLength(8 * 3 + 1 + 8 + 3);
    expect(presetRules(parsePreset('PRESET-VIDEO-5:UNENCRYPTED')).map((r) => r.trackType)).toEqual([
      'SD',
      'HD1',
      'HD2',
      'UHD1',
      'UHD2',
    ]);
  });

  it('parse --drm lists, de-duplicated, and list the valid names on a typo', () => {
    expect(parseDrmList('Widevine, playready,widevine')).toEqual(['widevine', 'playready']);
    expect(() => parseDrmList('widevine,fairplai')).toThrow(
      `unknown DRM system "fairplai"; use one or more of: ${DRM_NAMES.join(', ')}`,
    );
    expect(() => parseDrmList(' , ')).toThrow(UsageError);
  });
});

describe('given KIDs (--kid / --kids)', () => {
  it('are used in order; keys beyond them get new KIDs', () => {
    const kid = '8ad1c1c4-93b5-4a0c-9d37-2f8f1c0a5e11';
    const v1 = buildCpixRequest({ speke: '1.0', resourceId: 'r', drms: ['hls-aes128'], keyCount: 1, kids: [kid] });
    expect(v1.keys.map((k) => k.kid)).toEqual([kid]);
    expect(items(v1.root, 'ContentKeyList', 'ContentKey').map((e) => attr(e, 'kid'))).toEqual([kid]);
    const v2 = buildCpixRequest({
      speke: '2.0',
      resourceId: 'r',
      drms: ['widevine'],
      kids: [kid],
      newKid: counterKids(),
    });
    expect(v2.keys.map((k) => [k.kid, k.trackType])).toEqual([
      [kid, 'VIDEO'],
      ['00000000-0000-4000-8000-000000000001', 'AUDIO'],
    ]);
  });
});
