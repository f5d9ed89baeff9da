/**
 * `cpix:HLSSignalingData@playlist`: which playlist an element's lines are for. The v2 request rules
 * check the values; the v2 filler picks the media or master lines by it.
 */
import { attr, type ReadonlyXmlElement } from '../xml-tree';

/** `HLSSignalingData@playlist` values: CPIX 2.3 says `master`, CPIX 2.4 `multiVariant`; both mean the same. */
export const PLAYLIST_VALUES = ['media', 'master', 'multiVariant'] as const;

/** Where an HLSSignalingData element's lines go. */
type PlaylistTarget = 'media' | 'master';

/** Maps a playlist attribute to where its lines go; no attribute means the media playlist (CPIX). */
export function playlistTarget(el: ReadonlyXmlElement): PlaylistTarget {
  const value = attr(el, 'playlist');
  return value === 'master' || value === 'multiVariant' ? 'master' : 'media';
}
