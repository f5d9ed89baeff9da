/**
 * The Common PSSH box (system ID `1077efec-…`, ISO/IEC 23001-7 / DASH-IF): a version 1 pssh that only
 * lists KIDs, readable by any CENC client.
 */
import type { DrmContext, DrmSignalling, DrmSystem } from './drm-system';
import { SYSTEM_IDS } from './drm-system';
import { buildPssh } from './pssh';
import { cencPsshElement } from './signalling-text';

/** The common pssh for one KID: version 1, KID list, no data. */
function buildCommonPssh(kid: string): Buffer {
  return buildPssh({ systemId: SYSTEM_IDS.commonPssh, kids: [kid], version: 1 });
}

/** Common PSSH signalling: the pssh, plus `<cenc:pssh>` for DASH in v2. */
export const commonPssh: DrmSystem = {
  name: 'Common PSSH',
  systemIds: [SYSTEM_IDS.commonPssh],
  needsIv: false,
  signal(ctx: DrmContext): DrmSignalling {
    const pssh = buildCommonPssh(ctx.kid);
    if (ctx.spekeVersion === 'v1') return { pssh };
    return { pssh, contentProtectionData: cencPsshElement(pssh) };
  },
};
