import type { ReadonlyXmlElement } from '../cpix/xml-tree';
import type { CpixRequest } from '../cpix/cpix-model';
import type { DrmSignalling, DrmSystem } from '../drm/drm-system';
import type { KeyMaterial } from '../cpix/fill-cpix';

/**
 * Each DRMSystem element of a request with its system's signalling for that element's key: the one
 * loop SPEKE answers and CPIX by GET share, so both signal a key the same way.
 */
export function signalDrmSystems(
  request: CpixRequest,
  systemOf: (element: ReadonlyXmlElement, systemId: string) => DrmSystem,
  material: ReadonlyMap<string, KeyMaterial>,
  keyUrl: (resourceId: string, kid: string) => string,
): Map<ReadonlyXmlElement, DrmSignalling> {
  const signals = new Map<ReadonlyXmlElement, DrmSignalling>();
  const schemes = new Map(request.contentKeys.map((k) => [k.kid, k.scheme]));
  for (const entry of request.drmSystems) {
    const keyMaterial = material.get(entry.kid) as KeyMaterial;
    signals.set(
      entry.element,
      systemOf(entry.element, entry.systemId).signal({
        spekeVersion: request.speke === '1.0' ? 'v1' : 'v2',
        resourceId: request.resourceId,
        kid: entry.kid,
        key: keyMaterial.key,
        iv: keyMaterial.iv,
        scheme: schemes.get(entry.kid),
        keyUrl: keyUrl(request.resourceId, entry.kid),
      }),
    );
  }
  return signals;
}
