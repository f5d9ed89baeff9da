import type { KeyMaterial } from '../../../src/cpix/fill-cpix';
import { fillCpixV2 } from '../../../src/cpix/fill-cpix-v2';
import { NS } from '../../../src/cpix/namespaces';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { parseXml } from '../../../src/cpix/xml-parse';
import { serializeXml } from '../../../src/cpix/xml-serialize';
import { attr, isElement, textOf, type XmlElement } from '../../../src/cpix/xml-tree';
import type { DrmSignalling } from '../../../src/drm/drm-system';
import { createDrmRegistry } from '../../../src/drm/registry';
import { SETTINGS } from '../drm/context';
import { findAll } from '../../helpers/cpix';

const KID = '11111111-2222-4333-8444-555555555555';
const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';
const FAIRPLAY = '94ce86fb-07ff-4f43-adb8-93d2fa968ca2';
const HLS_AES128 = '81376844-f976-481e-a84e-cc25d39b0b33';
const CLEARKEY_AES128 = '3ea8778f-7742-4bf9-b18b-e834b2acbd47';
const KEY = Buffer.alloc(16, 7);
const IV = Buffer.alloc(16, 9);
const REGISTRY = createDrmRegistry(SETTINGS);
/** Which systems need explicitIV, as the SPEKE service asks the registry. */
const needsIv = (systemId: string) => REGISTRY.get(systemId)?.needsIv === true;

const SIGNAL: DrmSignalling = {
  pssh: Buffer.from('pssh-box'),
  contentProtectionData: '<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">cHNzaC1ib3g=</cenc:pssh>',
  hlsSignaling: { media: '#EXT-X-KEY:METHOD=SAMPLE-AES', master: '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES' },
};

interface Options {
  version?: '2.3' | '2.4';
  scheme?: string;
  keyExtra?: string;
  keyChildren?: string;
  systemId?: string;
  drmChildren?: string;
  ruleFilters?: string;
  rootExtra?: string;
  swapLists?: boolean;
}

function request(o: Options = {}): string {
  const keys = `<cpix:ContentKeyList><cpix:ContentKey kid="${KID}" commonEncryptionScheme="${o.scheme ?? 'cenc'}"${o.keyExtra ?? ''}>${o.keyChildren ?? ''}</cpix:ContentKey></cpix:ContentKeyList>`;
  const drms = `<cpix:DRMSystemList><cpix:DRMSystem kid="${KID}" systemId="${o.systemId ?? WIDEVINE}">${o.drmChildren ?? ''}</cpix:DRMSystem></cpix:DRMSystemList>`;
  const rules = `<cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="${KID}" intendedTrackType="ALL">${o.ruleFilters ?? '<cpix:VideoFilter/><cpix:AudioFilter/>'}</cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList>`;
  return (
    `<cpix:CPIX contentId="fill-1" version="${o.version ?? '2.3'}" xmlns:cpix="urn:dashif:org:cpix"${o.rootExtra ?? ''}>` +
    (o.swapLists ? rules + drms + keys : keys + drms + rules) +
    '</cpix:CPIX>'
  );
}

/** Parses, fills with a fixed key/IV and the given signalling, serializes and parses the answer again. */
function fill(o: Options = {}, signal: DrmSignalling = SIGNAL): XmlElement {
  const req = parseCpix(request(o), o.version === '2.4' ? '2.1' : '2.0');
  const keys = new Map<string, KeyMaterial>([[KID, { key: KEY, iv: IV }]]);
  const signals = new Map(req.drmSystems.map((d) => [d.element, signal]));
  return parseXml(serializeXml(fillCpixV2(req, keys, signals, needsIv)));
}

const names = (el: XmlElement) => el.children.filter(isElement).map((c) => c.local);
const drm = (root: XmlElement) => findAll(root, NS.cpix, 'DRMSystem')[0] as XmlElement;
const decoded = (el: XmlElement) => Buffer.from(textOf(el), 'base64').toString('utf8');

describe('fillCpixV2: values', () => {
  it('puts the key into cpix:Data/pskc:Secret/pskc:PlainValue, declaring pskc when the encoder did not', () => {
    const root = fill();
    const [plain] = findAll(root, NS.pskc, 'PlainValue');
    expect(Buffer.from(textOf(plain as XmlElement), 'base64')).toEqual(KEY);
    expect(root.attrs.find((a) => a.qname === 'xmlns:pskc')?.value).toBe(NS.pskc);
  });

  it('replaces a Data placeholder instead of adding a second one', () => {
    const root = fill({
      keyChildren: '<cpix:Data><pskc:Secret xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"/></cpix:Data>',
    });
    expect(findAll(root, NS.cpix, 'Data')).toHaveLength(1);
    expect(findAll(root, NS.pskc, 'PlainValue')).toHaveLength(1);
  });

  it('fills each placeholder with base64 of the system value, HLS by playlist', () => {
    const children =
      '<cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="media"/><cpix:HLSSignalingData playlist="master"/>';
    const d = drm(fill({ drmChildren: children }));
    const [pssh, cpd, media, master] = d.children.filter(isElement);
    expect(Buffer.from(textOf(pssh as XmlElement), 'base64')).toEqual(SIGNAL.pssh);
    expect(decoded(cpd as XmlElement)).toBe(SIGNAL.contentProtectionData);
    expect(decoded(media as XmlElement)).toBe(SIGNAL.hlsSignaling?.media);
    expect(decoded(master as XmlElement)).toBe(SIGNAL.hlsSignaling?.master);
  });

  it('sends the media line to an HLSSignalingData without playlist, and the session line to multiVariant', () => {
    const d = drm(
      fill({ version: '2.4', drmChildren: '<cpix:HLSSignalingData/><cpix:HLSSignalingData playlist="multiVariant"/>' }),
    );
    expect(d.children.filter(isElement).map(decoded)).toEqual([
      SIGNAL.hlsSignaling?.media,
      SIGNAL.hlsSignaling?.master,
    ]);
  });

  it("keeps the encoder's playlist value: master in SPEKE 2.1 stays master", () => {
    const d = drm(
      fill({
        version: '2.4',
        drmChildren: '<cpix:HLSSignalingData playlist="media"/><cpix:HLSSignalingData playlist="master"/>',
      }),
    );
    expect(d.children.filter(isElement).map((c) => attr(c, 'playlist'))).toEqual(['media', 'master']);
  });

  it('keeps attributes on filled elements (CPIX 2.4 ContentProtectionData@robustness)', () => {
    const d = drm(fill({ version: '2.4', drmChildren: '<cpix:ContentProtectionData robustness="HW_SECURE_ALL"/>' }));
    expect(attr(d.children.filter(isElement)[0] as XmlElement, 'robustness')).toBe('HW_SECURE_ALL');
  });

  it('fills SmoothStreamingProtectionHeaderData with base64 of the PlayReady Object when the system gives one', () => {
    const pro = Buffer.from('pro');
    const d = drm(
      fill({ drmChildren: '<cpix:SmoothStreamingProtectionHeaderData/>' }, { ...SIGNAL, protectionHeader: pro }),
    );
    expect(textOf(d.children.filter(isElement)[0] as XmlElement)).toBe(pro.toString('base64'));
  });

  it('drops empty placeholders the system has nothing for (FairPlay PSSH), keeps non-empty ones', () => {
    const hlsOnly: DrmSignalling = { hlsSignaling: SIGNAL.hlsSignaling };
    const children =
      '<cpix:PSSH/><cpix:ContentProtectionData>AAAA</cpix:ContentProtectionData><cpix:HLSSignalingData playlist="media"/>';
    const d = drm(fill({ scheme: 'cbcs', systemId: FAIRPLAY, drmChildren: children }, hlsOnly));
    expect(names(d)).toEqual(['ContentProtectionData', 'HLSSignalingData']);
    expect(textOf(d.children.filter(isElement)[0] as XmlElement)).toBe('AAAA');
  });

  it('gives a bare DRMSystem every field its system signals (master for 2.0, multiVariant for 2.1)', () => {
    expect(names(drm(fill()))).toEqual(['PSSH', 'ContentProtectionData', 'HLSSignalingData', 'HLSSignalingData']);
    const d21 = drm(fill({ version: '2.4' }));
    expect(d21.children.filter(isElement).map((c) => attr(c, 'playlist'))).toEqual([
      undefined,
      undefined,
      'media',
      'multiVariant',
    ]);
  });

  it('refuses a SPEKE v1 request', () => {
    const v1 = parseCpix(
      `<cpix:CPIX id="a" xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="${KID}"/></cpix:ContentKeyList></cpix:CPIX>`,
    );
    expect(() => fillCpixV2(v1, new Map(), new Map(), needsIv)).toThrow(TypeError);
  });
});

describe('fillCpixV2: explicitIV', () => {
  const iv = (o: Options) => attr(findAll(fill(o), NS.cpix, 'ContentKey')[0] as XmlElement, 'explicitIV');

  it.each([
    ['cenc for Widevine', { scheme: 'cenc' }, undefined],
    ['cens for Widevine', { scheme: 'cens' }, undefined],
    ['cbcs', { scheme: 'cbcs' }, IV.toString('base64')],
    ['cbc1', { scheme: 'cbc1' }, IV.toString('base64')],
    ['cenc for HLS AES-128', { scheme: 'cenc', systemId: HLS_AES128 }, IV.toString('base64')],
    ['cenc for HLS AES-128 (3ea8778f)', { scheme: 'cenc', systemId: CLEARKEY_AES128 }, IV.toString('base64')],
    [
      'an encoder-proposed IV',
      { scheme: 'cenc', keyExtra: ` explicitIV="${Buffer.alloc(16, 1).toString('base64')}"` },
      IV.toString('base64'),
    ],
  ])('%s', (_what, o: Options, expected) => {
    expect(iv(o)).toBe(expected);
  });
});

describe('fillCpixV2: schema order and what stays', () => {
  it('orders the root lists, the DRMSystem children and the rule filters as the CPIX schema does', () => {
    const root = fill({
      swapLists: true,
      drmChildren:
        '<cpix:HLSSignalingData playlist="master"/><x:Extra xmlns:x="urn:x"/><cpix:ContentProtectionData/><cpix:PSSH/><cpix:HLSSignalingData playlist="media"/>',
      ruleFilters: '<cpix:AudioFilter/><cpix:VideoFilter/>',
    });
    expect(names(root)).toEqual(['ContentKeyList', 'DRMSystemList', 'ContentKeyUsageRuleList']);
    expect(names(drm(root))).toEqual([
      'PSSH',
      'ContentProtectionData',
      'HLSSignalingData',
      'HLSSignalingData',
      'Extra',
    ]);
    expect(
      drm(root)
        .children.filter(isElement)
        .slice(2, 4)
        .map((c) => attr(c, 'playlist')),
    ).toEqual(['master', 'media']);
    expect(names(findAll(root, NS.cpix, 'ContentKeyUsageRule')[0] as XmlElement)).toEqual([
      'VideoFilter',
      'AudioFilter',
    ]);
  });

  it('puts Data where CPIX 2.3 KeyType wants it, and after HDCPData in CPIX 2.4', () => {
    const v23 = fill({ keyChildren: '<cpix:UserId>u</cpix:UserId><cpix:FriendlyName>f</cpix:FriendlyName>' });
    expect(names(findAll(v23, NS.cpix, 'ContentKey')[0] as XmlElement)).toEqual(['FriendlyName', 'Data', 'UserId']);
    const v24 = fill({ version: '2.4', keyChildren: '<cpix:HDCPData HLSHDCPLevel="TYPE-0"/>' });
    expect(names(findAll(v24, NS.cpix, 'ContentKey')[0] as XmlElement)).toEqual(['HDCPData', 'Data']);
  });

  it('keeps root attributes and unknown namespaces, and adds no speke: namespace', () => {
    const root = fill({ rootExtra: ' name="Movie" xmlns:x="urn:x"' });
    expect([attr(root, 'contentId'), attr(root, 'version'), attr(root, 'name')]).toEqual(['fill-1', '2.3', 'Movie']);
    expect(serializeXml(root)).not.toContain(NS.speke);
  });
});
