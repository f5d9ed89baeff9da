/**
 * W3C Clear Key (EME §9.1): a version 1 pssh listing the KID with no data (the `cpix:PSSH`), and for DASH the
 * license URL in both the legacy DASH-IF `clearkey:Laurl` and the DASH-IF content protection `dashif:laurl`.
 */
import type { DrmContext, DrmSettings, DrmSignalling, DrmSystem } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { buildPssh } from './pssh';
import { escapeXml } from './signalling-text';

/** Namespace of the legacy DASH-IF IOP `clearkey:Laurl` element. */
const CLEARKEY_NAMESPACE = 'http://dashif.org/guidelines/clearKey';
/** Namespace of the DASH-IF content protection elements (`dashif:laurl`). */
const DASHIF_CPS_NAMESPACE = 'https://dashif.org/CPS';

/** The Clear Key pssh: version 1, the one KID, no data (what EME's `cenc` init data format expects). */
function buildClearKeyPssh(kid: string): Buffer {
  return buildPssh({ systemId: SYSTEM_IDS.clearkey, kids: [kid], version: 1 });
}

/**
 * DASH ContentProtectionData: the license URL in both DASH-IF forms, and no `<cenc:pssh>`, as in DASH-IF's
 * Clear Key test vectors. A pssh box under the Clear Key system ID is init data browsers refuse (Chromium: "No
 * supported PSSH box found", Shaka Player error 6006); without it a player builds Common PSSH init data from
 * `cenc:default_KID`, which is what EME's Clear Key reads.
 */
function clearKeyContentProtectionData(licenseUrl: string): string {
  const url = escapeXml(licenseUrl);
  return (
    `<clearkey:Laurl xmlns:clearkey="${CLEARKEY_NAMESPACE}" Lic_type="EME-1.0">${url}</clearkey:Laurl>` +
    `<dashif:laurl xmlns:dashif="${DASHIF_CPS_NAMESPACE}">${url}</dashif:laurl>`
  );
}

/** Clear Key signalling; `settings.clearkeyLicenseUrl` is Keyplane's own license endpoint. */
export function createClearKey(settings: Pick<DrmSettings, 'clearkeyLicenseUrl'>): DrmSystem {
  return {
    name: 'ClearKey',
    systemIds: [SYSTEM_IDS.clearkey],
    needsIv: false,
    signal(ctx: DrmContext): DrmSignalling {
      const pssh = buildClearKeyPssh(ctx.kid);
      if (ctx.spekeVersion === 'v1') return { pssh };
      return { pssh, contentProtectionData: clearKeyContentProtectionData(settings.clearkeyLicenseUrl) };
    },
  };
}
