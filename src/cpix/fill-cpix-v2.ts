/**
 * SPEKE v2 answer: a copy of the request document with its blanks filled. Keys go into
 * `cpix:Data/pskc:Secret/pskc:PlainValue`, DRM signalling into the DRMSystem children the encoder asked
 * for (PSSH, ContentProtectionData, HLSSignalingData, SmoothStreamingProtectionHeaderData), all base64.
 * Everything else the encoder sent stays; children end up in CPIX schema order.
 */
import type { DrmSignalling } from '../drm/drm-system';
import type { ContentKeyEntry, CpixRequest, SpekeV2Version } from './cpix-model';
import { makeElement } from './element-factory';
import { editedElements, type KeyMaterial, type SignalsByElement } from './fill-cpix';
import { NS } from './namespaces';
import { orderBySchema } from './schema-order';
import { playlistTarget } from './v2/hls-playlist';
import { cloneTree, firstChild, isElement, setAttr, type XmlElement } from './xml-tree';

/** CBC schemes encrypt with a constant IV the encoder must know (ISO/IEC 23001-7 `cbcs`; `cbc1` for HLS AES-128). */
const IV_SCHEMES: ReadonlySet<string> = new Set(['cbcs', 'cbc1']);

/** Whether a DRM system needs the IV the encoder uses (`DrmSystem.needsIv`, looked up by systemId). */
type NeedsIv = (systemId: string) => boolean;

type FieldValue = (signal: DrmSignalling, el: XmlElement) => string | undefined;

function base64(text: string | undefined): string | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'utf8').toString('base64');
}

/** The DRMSystem children Keyplane fills, with where each value comes from. */
const SIGNAL_FIELDS: ReadonlyMap<string, FieldValue> = new Map<string, FieldValue>([
  ['PSSH', (s) => s.pssh?.toString('base64')],
  ['ContentProtectionData', (s) => base64(s.contentProtectionData)],
  ['HLSSignalingData', (s, el) => base64(s.hlsSignaling?.[playlistTarget(el)])],
  ['SmoothStreamingProtectionHeaderData', (s) => s.protectionHeader?.toString('base64')],
]);

/** The KIDs that have a DRMSystem needing the IV: one pass over the systems, so the fill stays linear. */
function kidsNeedingIv(request: CpixRequest, needsIv: NeedsIv): ReadonlySet<string> {
  const kids = new Set<string>();
  for (const d of request.drmSystems) if (needsIv(d.systemId)) kids.add(d.kid);
  return kids;
}

/** Whether the answer carries explicitIV: the encoder proposed one, the scheme is CBC, or a system needs it. */
function wantsExplicitIv(ck: ContentKeyEntry, ivKids: ReadonlySet<string>): boolean {
  if (ck.explicitIV) return true;
  if (ck.scheme && IV_SCHEMES.has(ck.scheme)) return true;
  return ivKids.has(ck.kid);
}

/** Puts the key into `cpix:Data/pskc:Secret/pskc:PlainValue`, replacing any placeholder Data. */
function putKey(root: XmlElement, el: XmlElement, key: Buffer): void {
  const data = makeElement(root, NS.cpix, 'Data');
  const secret = makeElement(root, NS.pskc, 'Secret');
  secret.children.push(makeElement(root, NS.pskc, 'PlainValue', key.toString('base64')));
  data.children.push(secret);
  const existing = firstChild(el, NS.cpix, 'Data');
  if (existing) el.children[el.children.indexOf(existing)] = data;
  else el.children.push(data);
}

function isEmpty(el: XmlElement): boolean {
  return el.children.every((c) => !isElement(c) && c.text.trim() === '');
}

/** A bare DRMSystem (no signalling children) gets every field its system signals. */
function appendAll(root: XmlElement, el: XmlElement, signal: DrmSignalling, speke: SpekeV2Version): void {
  const add = (local: string, value: string | undefined, playlist?: string) => {
    if (value === undefined) return;
    const child = makeElement(root, NS.cpix, local, value);
    if (playlist) setAttr(child, 'playlist', playlist);
    el.children.push(child);
  };
  add('PSSH', signal.pssh?.toString('base64'));
  add('ContentProtectionData', base64(signal.contentProtectionData));
  add('HLSSignalingData', base64(signal.hlsSignaling?.media), 'media');
  add('HLSSignalingData', base64(signal.hlsSignaling?.master), speke === '2.1' ? 'multiVariant' : 'master');
  add('SmoothStreamingProtectionHeaderData', signal.protectionHeader?.toString('base64'));
}

/**
 * Fills the signalling children the encoder asked for. An empty placeholder the system has nothing
 * for (a FairPlay PSSH, say) is dropped: AWS's v2 tests expect no PSSH for FairPlay, and an empty
 * value would not be "a valid value" for the encoder.
 */
function fillDrmSystemV2(root: XmlElement, el: XmlElement, signal: DrmSignalling, speke: SpekeV2Version): void {
  const requested = el.children.filter(
    (c): c is XmlElement => isElement(c) && c.ns === NS.cpix && SIGNAL_FIELDS.has(c.local),
  );
  if (requested.length === 0) return appendAll(root, el, signal, speke);
  for (const child of requested) {
    const value = (SIGNAL_FIELDS.get(child.local) as FieldValue)(signal, child);
    if (value !== undefined) child.children = [{ text: value }];
    else if (isEmpty(child)) el.children.splice(el.children.indexOf(child), 1);
  }
}

/**
 * Builds the SPEKE v2 answer on a copy of the request's tree and returns it, children in schema
 * order; the request is left as parsed. `needsIv` says which DRM systems need explicitIV.
 */
export function fillCpixV2(
  request: CpixRequest,
  keys: ReadonlyMap<string, KeyMaterial>,
  signals: SignalsByElement,
  needsIv: NeedsIv,
): XmlElement {
  if (request.speke === '1.0') throw new TypeError('fillCpixV2 needs a SPEKE v2 request');
  const { root, copyOf } = cloneTree(request.root, editedElements(request));
  const ivKids = kidsNeedingIv(request, needsIv);
  for (const ck of request.contentKeys) {
    const material = keys.get(ck.kid);
    if (!material) continue;
    const el = copyOf(ck.element);
    putKey(root, el, material.key);
    if (wantsExplicitIv(ck, ivKids)) setAttr(el, 'explicitIV', material.iv.toString('base64'));
  }
  for (const drm of request.drmSystems) {
    const signal = signals.get(drm.element);
    if (signal) fillDrmSystemV2(root, copyOf(drm.element), signal, request.speke);
  }
  orderBySchema(root, request.speke);
  return root;
}
