/**
 * SPEKE v2 element rules: the CPIX root, no SPEKE v1 vocabulary (the `speke:` namespace and
 * `cpix:URIExtXKey` were replaced by `cpix:HLSSignalingData`), and HLSSignalingData playlists.
 */
import { UnprocessableError } from '../errors';
import type { DrmSystemEntry } from './cpix-model';
import { NS } from './namespaces';
import { attr, childElements, isElement, type XmlElement } from './xml-tree';

/** `HLSSignalingData@playlist` values: CPIX 2.3 says `master`, CPIX 2.4 `multiVariant`; both mean the same. */
export const PLAYLIST_VALUES = ['media', 'master', 'multiVariant'] as const;

/** Where an HLSSignalingData element's lines go. */
export type PlaylistTarget = 'media' | 'master';

/** True when any element or attribute in the tree, or a namespace declaration, uses the namespace URI. */
export function usesNamespace(el: XmlElement, ns: string): boolean {
  if (el.ns === ns || el.attrs.some((a) => a.ns === ns || (a.ns === NS.xmlns && a.value === ns))) return true;
  return el.children.some((c) => isElement(c) && usesNamespace(c, ns));
}

function findElement(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  if (el.ns === ns && el.local === local) return el;
  for (const child of el.children) {
    const found = isElement(child) ? findElement(child, ns, local) : undefined;
    if (found) return found;
  }
  return undefined;
}

/** The root is `cpix:CPIX`. */
export function checkV2Root(root: XmlElement): void {
  if (root.ns !== NS.cpix || root.local !== 'CPIX') {
    const got = root.ns === '' ? 'no namespace' : root.ns;
    throw new UnprocessableError(`Root element must be CPIX in namespace ${NS.cpix}; got ${root.local} in ${got}`);
  }
}

/** The document uses no SPEKE v1-only vocabulary, which a v2 answer could not carry. */
export function checkNoV1Vocabulary(root: XmlElement): void {
  if (usesNamespace(root, NS.speke)) {
    throw new UnprocessableError(
      `The ${NS.speke} namespace is SPEKE v1 only; SPEKE v2 uses cpix:HLSSignalingData and cpix:SmoothStreamingProtectionHeaderData`,
    );
  }
  if (findElement(root, NS.cpix, 'URIExtXKey')) {
    throw new UnprocessableError('cpix:URIExtXKey is SPEKE v1 only; SPEKE v2 uses cpix:HLSSignalingData');
  }
}

/** Maps a playlist attribute to where its lines go; no attribute means the media playlist (CPIX). */
export function playlistTarget(el: XmlElement): PlaylistTarget {
  const value = attr(el, 'playlist');
  return value === 'master' || value === 'multiVariant' ? 'master' : 'media';
}

/** A DRMSystem has at most one HLSSignalingData per playlist, each with a known playlist value. */
export function checkV2Signalling(drm: DrmSystemEntry): void {
  const hls = childElements(drm.element, NS.cpix, 'HLSSignalingData');
  const where = `DRMSystem ${drm.systemId} for KID ${drm.kid}`;
  for (const el of hls) {
    const value = attr(el, 'playlist');
    if (value !== undefined && !(PLAYLIST_VALUES as readonly string[]).includes(value)) {
      throw new UnprocessableError(
        `HLSSignalingData@playlist "${value.slice(0, 32)}" of ${where} is not one of ${PLAYLIST_VALUES.join(', ')}`,
      );
    }
  }
  const targets = hls.map(playlistTarget);
  if (new Set(targets).size !== targets.length) {
    throw new UnprocessableError(`${where} has more than one HLSSignalingData for the same playlist`);
  }
}
