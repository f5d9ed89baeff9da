/**
 * Builds the CPIX request an encoder sends: SPEKE v1 (CPIX `id`, speke: placeholders) or v2
 * (`contentId`, `version="2.3"`, commonEncryptionScheme and the preset's encryption contract),
 * with optional key rotation periods and a delivery certificate. Pure: no I/O.
 */
import crypto from 'node:crypto';
import { NS } from '../cpix/namespaces';
import { serializeXml } from '../cpix/xml-serialize';
import type { XmlElement, XmlNode } from '../cpix/xml-tree';
import type { EncryptionScheme } from '../drm/drm-system';
import { DRM_SYSTEMS, defaultScheme, type DrmName } from './drm-names';
import { presetRules, type PresetPair, type TrackRule } from './presets';

/** What to ask for. */
export interface CpixRequestSpec {
  speke: '1.0' | '2.0';
  resourceId: string;
  drms: readonly DrmName[];
  /** SPEKE v1: keys per period (default 1). */
  keyCount?: number;
  /** SPEKE v2: the encryption contract (default PRESET-VIDEO-1:PRESET-AUDIO-1). */
  preset?: PresetPair;
  /** SPEKE v2: ContentKey@commonEncryptionScheme (default: cbcs with an HLS system, else cenc). */
  scheme?: EncryptionScheme;
  /** Key rotation: this many ContentKeyPeriods, indexes counting up from `firstIndex`. */
  rotation?: { count: number; firstIndex: number };
  /** DER of the delivery certificate: asks for an encrypted response. */
  certificateDer?: Buffer;
  /** KID source (tests inject a deterministic one). */
  newKid?: () => string;
  /** These KIDs, in order, instead of new ones ("send it again, same key"); more keys get new KIDs. */
  kids?: readonly string[];
}

/** One content key the request asks for. */
export interface PlannedKey {
  kid: string;
  trackType?: string;
  periodId?: string;
  periodIndex?: number;
}

/** The request as a tree (to tweak), as XML (to send), and the keys it asks for. */
export interface BuiltRequest {
  root: XmlElement;
  xml: string;
  keys: PlannedKey[];
}

/** Default SPEKE v2 encryption contract. */
const DEFAULT_PRESET: PresetPair = { video: 'PRESET-VIDEO-1', audio: 'PRESET-AUDIO-1' };

const PREFIX: Record<string, string> = { [NS.cpix]: 'cpix', [NS.pskc]: 'pskc', [NS.speke]: 'speke', [NS.ds]: 'ds' };

/** Creates an element in one of the CPIX namespaces with its usual prefix. */
function cpixElement(
  ns: string,
  local: string,
  attrs: Record<string, string> = {},
  children: XmlNode[] = [],
): XmlElement {
  return {
    qname: `${PREFIX[ns] ?? 'ns'}:${local}`,
    ns,
    local,
    attrs: Object.entries(attrs).map(([name, value]) => ({ qname: name, ns: '', local: name, value })),
    children,
  };
}

const cpix = (local: string, attrs?: Record<string, string>, children?: XmlNode[]) =>
  cpixElement(NS.cpix, local, attrs, children);

function rootElement(spec: CpixRequestSpec): XmlElement {
  const attrs: Record<string, string> =
    spec.speke === '1.0' ? { id: spec.resourceId } : { contentId: spec.resourceId, version: '2.3' };
  const root = cpix('CPIX', attrs);
  const namespaces = [
    NS.cpix,
    NS.pskc,
    ...(spec.speke === '1.0' ? [NS.speke] : []),
    ...(spec.certificateDer ? [NS.ds] : []),
  ];
  for (const ns of namespaces) {
    const prefix = PREFIX[ns] as string;
    root.attrs.push({ qname: `xmlns:${prefix}`, ns: NS.xmlns, local: prefix, value: ns });
  }
  return root;
}

interface Period {
  id: string;
  index: number;
}

function periodsOf(spec: CpixRequestSpec): Array<Period | undefined> {
  if (!spec.rotation || spec.rotation.count < 1) return [undefined];
  return Array.from({ length: spec.rotation.count }, (_, i) => {
    const index = spec.rotation!.firstIndex + i;
    return { id: `keyPeriod_${index}`, index };
  });
}

function planKeys(spec: CpixRequestSpec, newKid: () => string): Array<PlannedKey & { rule?: TrackRule }> {
  const rules: Array<TrackRule | undefined> =
    spec.speke === '1.0'
      ? Array.from({ length: Math.max(1, spec.keyCount ?? 1) }, () => undefined)
      : presetRules(spec.preset ?? DEFAULT_PRESET);
  return periodsOf(spec).flatMap((period) =>
    rules.map((rule) => ({
      kid: newKid(),
      trackType: rule?.trackType,
      periodId: period?.id,
      periodIndex: period?.index,
      rule,
    })),
  );
}

function drmChildren(spec: CpixRequestSpec, drm: DrmName): XmlElement[] {
  const info = DRM_SYSTEMS[drm];
  const speke = (local: string) => cpixElement(NS.speke, local);
  if (spec.speke === '2.0') {
    if (info.hls)
      return [cpix('HLSSignalingData', { playlist: 'media' }), cpix('HLSSignalingData', { playlist: 'master' })];
    return [cpix('PSSH'), cpix('ContentProtectionData')];
  }
  if (info.hls) return [cpix('URIExtXKey'), speke('KeyFormat'), speke('KeyFormatVersions')];
  const header = drm === 'playready' ? [speke('ProtectionHeader')] : [];
  return [cpix('PSSH'), cpix('ContentProtectionData'), ...header];
}

function deliveryDataList(der: Buffer): XmlElement {
  const cert = cpixElement(NS.ds, 'X509Certificate', {}, [{ text: der.toString('base64') }]);
  const key = cpix('DeliveryKey', {}, [cpixElement(NS.ds, 'X509Data', {}, [cert])]);
  return cpix('DeliveryDataList', {}, [cpix('DeliveryData', {}, [key])]);
}

function usageRule(key: PlannedKey & { rule?: TrackRule }): XmlElement {
  const attrs: Record<string, string> = { kid: key.kid };
  if (key.trackType !== undefined) attrs.intendedTrackType = key.trackType;
  const children: XmlElement[] = [];
  if (key.periodId !== undefined) children.push(cpix('KeyPeriodFilter', { periodId: key.periodId }));
  for (const filter of key.rule?.filters ?? []) children.push(cpix(filter.kind, filter.attrs));
  return cpix('ContentKeyUsageRule', attrs, children);
}

/** Builds a SPEKE v1 or v2 CPIX request for the given DRM systems, keys or preset, rotation and certificate. */
export function buildCpixRequest(spec: CpixRequestSpec): BuiltRequest {
  const given = [...(spec.kids ?? [])];
  const fallback = spec.newKid ?? crypto.randomUUID;
  const planned = planKeys(spec, () => given.shift() ?? fallback());
  const root = rootElement(spec);
  if (spec.certificateDer) root.children.push(deliveryDataList(spec.certificateDer));
  const scheme = spec.scheme ?? defaultScheme(spec.drms);
  const keyAttrs = (kid: string): Record<string, string> =>
    spec.speke === '2.0' ? { kid, commonEncryptionScheme: scheme } : { kid };
  root.children.push(
    cpix(
      'ContentKeyList',
      {},
      planned.map((k) => cpix('ContentKey', keyAttrs(k.kid))),
    ),
  );
  const drmSystems = planned.flatMap((k) =>
    spec.drms.map((d) => cpix('DRMSystem', { kid: k.kid, systemId: DRM_SYSTEMS[d].systemId }, drmChildren(spec, d))),
  );
  root.children.push(cpix('DRMSystemList', {}, drmSystems));
  const periods = periodsOf(spec).filter((p): p is Period => p !== undefined);
  if (periods.length > 0) {
    const items = periods.map((p) => cpix('ContentKeyPeriod', { id: p.id, index: String(p.index) }));
    root.children.push(cpix('ContentKeyPeriodList', {}, items));
  }
  if (spec.speke === '2.0' || periods.length > 0) {
    root.children.push(cpix('ContentKeyUsageRuleList', {}, planned.map(usageRule)));
  }
  const keys = planned.map(({ rule: _rule, ...key }) => key);
  return { root, xml: serializeXml(root), keys };
}
