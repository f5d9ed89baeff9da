/**
 * SPEKE v1 answer: a copy of the request document with keys in `cpix:Data/pskc:Secret/pskc:PlainValue`
 * (and explicitIV set) and each DRM system's signalling in its v1 elements, all base64.
 */
import type { DrmSignalling } from '../drm/drm-system';
import type { CpixRequest } from './cpix-model';
import { makeElement } from './element-factory';
import { NS } from './namespaces';
import { cloneTree, firstChild, isElement, setAttr, type ReadonlyXmlElement, type XmlElement } from './xml-tree';

/** Key material for one KID, as the key service returns it. */
export interface KeyMaterial {
  key: Buffer;
  iv: Buffer;
}

function plainValueData(root: XmlElement, key: Buffer): XmlElement {
  const data = makeElement(root, NS.cpix, 'Data');
  const secret = makeElement(root, NS.pskc, 'Secret');
  secret.children.push(makeElement(root, NS.pskc, 'PlainValue', key.toString('base64')));
  data.children.push(secret);
  return data;
}

/** Puts the key into `cpix:Data/pskc:Secret/pskc:PlainValue` (replacing any placeholder) and sets explicitIV. */
export function fillContentKey(root: XmlElement, el: XmlElement, material: KeyMaterial): void {
  setAttr(el, 'explicitIV', material.iv.toString('base64'));
  const data = plainValueData(root, material.key);
  const existing = firstChild(el, NS.cpix, 'Data');
  if (existing) el.children[el.children.indexOf(existing)] = data;
  else el.children.unshift(data);
}

type V1Field = 'pssh' | 'contentProtectionData' | 'uriExtXKey' | 'keyFormat' | 'keyFormatVersions' | 'protectionHeader';

const V1_ELEMENTS: ReadonlyArray<[V1Field, string, string]> = [
  ['pssh', NS.cpix, 'PSSH'],
  ['contentProtectionData', NS.cpix, 'ContentProtectionData'],
  ['uriExtXKey', NS.cpix, 'URIExtXKey'],
  ['keyFormat', NS.speke, 'KeyFormat'],
  ['keyFormatVersions', NS.speke, 'KeyFormatVersions'],
  ['protectionHeader', NS.speke, 'ProtectionHeader'],
];

function base64Of(value: string | Buffer): string {
  return (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64');
}

/**
 * SPEKE v1: each signalled field goes into its element (base64), replacing the placeholder;
 * empty placeholders for fields the system does not use are removed, as AWS's examples do.
 */
function fillDrmSystemV1(root: XmlElement, el: XmlElement, signal: DrmSignalling): void {
  for (const [field, ns, local] of V1_ELEMENTS) {
    const value = signal[field];
    const existing = firstChild(el, ns, local);
    if (value === undefined) {
      if (existing && existing.children.every((c) => !isElement(c) && c.text.trim() === '')) {
        el.children.splice(el.children.indexOf(existing), 1);
      }
      continue;
    }
    const filled = makeElement(root, ns, local, base64Of(value));
    if (existing) el.children[el.children.indexOf(existing)] = filled;
    else el.children.push(filled);
  }
}

/** The elements a filler edits: every ContentKey and DRMSystem of the request. */
export function editedElements(request: CpixRequest): Set<ReadonlyXmlElement> {
  const edited = new Set<ReadonlyXmlElement>();
  for (const ck of request.contentKeys) edited.add(ck.element);
  for (const drm of request.drmSystems) edited.add(drm.element);
  return edited;
}

/** Each DRMSystem element of a request (by identity) with its system's signalling. */
export type SignalsByElement = ReadonlyMap<ReadonlyXmlElement, DrmSignalling>;

/**
 * Builds the SPEKE v1 answer: keys into ContentKeys, signalling into DRMSystems, on a copy of the
 * request's tree (returned; the request is left as parsed).
 */
export function fillCpixV1(
  request: CpixRequest,
  keys: ReadonlyMap<string, KeyMaterial>,
  signals: SignalsByElement,
): XmlElement {
  const { root, copyOf } = cloneTree(request.root, editedElements(request));
  for (const ck of request.contentKeys) {
    const material = keys.get(ck.kid);
    if (material) fillContentKey(root, copyOf(ck.element), material);
  }
  for (const drm of request.drmSystems) {
    const signal = signals.get(drm.element);
    if (signal) fillDrmSystemV1(root, copyOf(drm.element), signal);
  }
  return root;
}
