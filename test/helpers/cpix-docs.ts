import crypto from 'node:crypto';
import { SYSTEM_IDS } from '../../src/drm/drm-system';

/** A minimal SPEKE v1 HLS AES-128 request for `kids` under `resourceId`. */
export function hlsRequest(resourceId: string, kids: string[]): string {
  const keys = kids.map((k) => `<cpix:ContentKey kid="${k}"/>`).join('');
  const drm = kids
    .map((k) => `<cpix:DRMSystem kid="${k}" systemId="${SYSTEM_IDS.hlsAes128}"><cpix:URIExtXKey/></cpix:DRMSystem>`)
    .join('');
  return (
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">` +
    `<cpix:ContentKeyList>${keys}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList></cpix:CPIX>`
  );
}

/** `n` fresh random KIDs. */
export function freshKids(n: number): string[] {
  return Array.from({ length: n }, () => crypto.randomUUID());
}
