import crypto from 'node:crypto';
import { SYSTEM_IDS } from '../../src/drm/drm-system';

const OPEN_V2 =
  '<cpix:CPIX contentId="COST" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">';

/**
 * A SPEKE v2 key-rotation request with `keys` ContentKeys, each with two DRMSystems (PlayReady and
 * FairPlay for cbcs, Widevine and PlayReady otherwise), its own ContentKeyPeriod and a usage rule with a KeyPeriodFilter: the worst honest shape
 * for cost (every key is looked up from systems, rules and periods).
 */
export function v2RotationRequest(contentId: string, keys: number, scheme = 'cbcs'): string {
  const kids = Array.from({ length: keys }, () => crypto.randomUUID());
  const systems =
    scheme === 'cbcs' ? [SYSTEM_IDS.playready, SYSTEM_IDS.fairplay] : [SYSTEM_IDS.widevine, SYSTEM_IDS.playready];
  const ck = kids.map((k) => `<cpix:ContentKey kid="${k}" commonEncryptionScheme="${scheme}"/>`).join('');
  const drm = kids
    .flatMap((k) =>
      systems.map(
        (s) =>
          `<cpix:DRMSystem kid="${k}" systemId="${s}"><cpix:HLSSignalingData playlist="media"/>` +
          '<cpix:HLSSignalingData playlist="master"/></cpix:DRMSystem>',
      ),
    )
    .join('');
  const periods = kids.map((_, i) => `<cpix:ContentKeyPeriod id="p${i}" index="${i + 1}"/>`).join('');
  const rules = kids
    .map(
      (k, i) =>
        `<cpix:ContentKeyUsageRule kid="${k}" intendedTrackType="ALL"><cpix:KeyPeriodFilter periodId="p${i}"/>` +
        '<cpix:AudioFilter/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>',
    )
    .join('');
  return (
    OPEN_V2.replace('COST', contentId) +
    `<cpix:ContentKeyList>${ck}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList>` +
    `<cpix:ContentKeyPeriodList>${periods}</cpix:ContentKeyPeriodList>` +
    `<cpix:ContentKeyUsageRuleList>${rules}</cpix:ContentKeyUsageRuleList></cpix:CPIX>`
  );
}

/** A SPEKE v1 request with `keys` ContentKeys, each with a Widevine, a PlayReady and an HLS AES-128 DRMSystem. */
export function v1ManyKeysRequest(resourceId: string, keys: number): string {
  const kids = Array.from({ length: keys }, () => crypto.randomUUID());
  const ck = kids.map((k) => `<cpix:ContentKey kid="${k}"/>`).join('');
  const drm = kids
    .map(
      (k) =>
        `<cpix:DRMSystem kid="${k}" systemId="${SYSTEM_IDS.widevine}"><cpix:PSSH/></cpix:DRMSystem>` +
        `<cpix:DRMSystem kid="${k}" systemId="${SYSTEM_IDS.playready}"><cpix:PSSH/></cpix:DRMSystem>` +
        `<cpix:DRMSystem kid="${k}" systemId="${SYSTEM_IDS.hlsAes128}"><cpix:URIExtXKey/></cpix:DRMSystem>`,
    )
    .join('');
  return (
    `<cpix:CPIX id="${resourceId}" xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">` +
    `<cpix:ContentKeyList>${ck}</cpix:ContentKeyList><cpix:DRMSystemList>${drm}</cpix:DRMSystemList></cpix:CPIX>`
  );
}

/** The namespace-scope worst case: `rootDecls` declarations on the root, then `children` elements each declaring one. */
export function namespaceScopeDoc(rootDecls: number, children: number): string {
  const decls = Array.from({ length: rootDecls }, (_, i) => `xmlns:p${i}="urn:p${i}"`).join(' ');
  const kids = Array.from({ length: children }, (_, i) => `<x xmlns:q${i}="urn:q"/>`).join('');
  return `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" ${decls}>${kids}</cpix:CPIX>`;
}
