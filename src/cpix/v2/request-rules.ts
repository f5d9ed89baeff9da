/**
 * SPEKE v2 rules checked on the structurally read request: one encryption scheme per document, one
 * DRMSystem per key and system and at least one per key, HLSSignalingData playlists known and unique.
 */
import { UnprocessableError } from '../../errors';
import type { CpixRequest, DrmSystemEntry } from '../cpix-model';
import { NS } from '../namespaces';
import { attr, childElements } from '../xml-tree';
import { PLAYLIST_VALUES, playlistTarget } from './hls-playlist';

function checkOneScheme(request: CpixRequest): void {
  const schemes = new Set(request.contentKeys.map((k) => attr(k.element, 'commonEncryptionScheme')));
  if (schemes.size > 1) throw new UnprocessableError('Non compliant ContentKey@commonEncryptionScheme combination');
}

function checkDrmSystemPerKey(request: CpixRequest): void {
  const seen = new Set<string>();
  for (const drm of request.drmSystems) {
    const pair = `${drm.kid} ${drm.systemId}`;
    if (seen.has(pair))
      throw new UnprocessableError(`Duplicate DRMSystem for KID ${drm.kid} and systemId ${drm.systemId}`);
    seen.add(pair);
  }
  const signalled = new Set(request.drmSystems.map((d) => d.kid));
  const bare = request.contentKeys.find((k) => !signalled.has(k.kid));
  if (bare) throw new UnprocessableError(`No DRMSystem for ContentKey KID ${bare.kid}`);
}

/** A DRMSystem has at most one HLSSignalingData per playlist, each with a known playlist value. */
function checkSignalling(drm: DrmSystemEntry): void {
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

/** Checks a structurally read v2 request: one scheme, a DRMSystem per key, its signalling elements. */
export function checkV2Request(request: CpixRequest): void {
  checkOneScheme(request);
  checkDrmSystemPerKey(request);
  for (const drm of request.drmSystems) checkSignalling(drm);
}
