/**
 * Puts the children of CPIX elements into the order the DASH-IF CPIX schema's `xs:sequence`s require.
 * Encoders (AWS's own examples included) send children in other orders; a v2 response must still be
 * XSD-valid. The sort is stable: same-name children keep the encoder's order, and elements in other
 * namespaces go last, where the schema's `xs:any namespace="##other"` puts them.
 */
import type { SpekeV2Version } from './cpix-model';
import { NS } from './namespaces';
import { isElement, type XmlElement } from './xml-tree';

type Sequences = Readonly<Record<string, readonly string[]>>;

/** `xs:sequence` order of the CPIX elements a SPEKE document carries (CPIX 2.3). */
const CPIX_2_3: Sequences = {
  CPIX: [
    'DeliveryDataList',
    'ContentKeyList',
    'DRMSystemList',
    'ContentKeyPeriodList',
    'ContentKeyUsageRuleList',
    'UpdateHistoryItemList',
  ],
  DeliveryData: [
    'DeliveryKey',
    'DocumentKey',
    'MACMethod',
    'Description',
    'SendingEntity',
    'SenderPointOfContact',
    'ReceivingEntity',
  ],
  ContentKey: [
    'Issuer',
    'AlgorithmParameters',
    'KeyProfileId',
    'KeyReference',
    'FriendlyName',
    'Data',
    'UserId',
    'Policy',
    'Extensions',
  ],
  DRMSystem: [
    'PSSH',
    'ContentProtectionData',
    'URIExtXKey',
    'HLSSignalingData',
    'SmoothStreamingProtectionHeaderData',
    'HDSSignalingData',
  ],
  ContentKeyUsageRule: ['KeyPeriodFilter', 'LabelFilter', 'VideoFilter', 'AudioFilter', 'BitrateFilter'],
};

/** CPIX 2.4 changed ContentKey (no longer a pskc key type) and dropped HDSSignalingData. */
const CPIX_2_4: Sequences = {
  ...CPIX_2_3,
  ContentKey: ['HDCPData', 'Data'],
  DRMSystem: ['PSSH', 'ContentProtectionData', 'URIExtXKey', 'HLSSignalingData', 'SmoothStreamingProtectionHeaderData'],
};

/** Rank of a child in its parent's sequence; `ds:Signature` follows the CPIX lists, foreign elements go last. */
function rank(child: XmlElement, sequence: readonly string[]): number {
  if (child.ns === NS.cpix) {
    const i = sequence.indexOf(child.local);
    return i < 0 ? sequence.length + 1 : i;
  }
  return child.ns === NS.ds && child.local === 'Signature' ? sequence.length : sequence.length + 2;
}

/** True when the element children already stand in schema order (the common case: nothing to move). */
function inOrder(el: XmlElement, sequence: readonly string[]): boolean {
  let last = -1;
  for (const c of el.children) {
    if (!isElement(c)) continue;
    const r = rank(c, sequence);
    if (r < last) return false;
    last = r;
  }
  return true;
}

function sortChildren(el: XmlElement, sequence: readonly string[]): void {
  if (inOrder(el, sequence)) return;
  const slots = el.children.flatMap((c, i) => (isElement(c) ? [i] : []));
  const elements = slots.map((i) => el.children[i] as XmlElement);
  const sorted = elements
    .map((child, i) => ({ child, i, r: rank(child, sequence) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.child);
  slots.forEach((slot, i) => (el.children[slot] = sorted[i] as XmlElement));
}

/** Reorders, in place, the children of every CPIX element in the tree whose schema type is a sequence. */
export function orderBySchema(el: XmlElement, speke: SpekeV2Version): void {
  const sequences = speke === '2.1' ? CPIX_2_4 : CPIX_2_3;
  const sequence = el.ns === NS.cpix ? sequences[el.local] : undefined;
  if (sequence) sortChildren(el, sequence);
  for (const child of el.children) if (isElement(child)) orderBySchema(child, speke);
}
