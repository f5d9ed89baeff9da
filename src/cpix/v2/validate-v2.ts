/**
 * The one entry of SPEKE v2 validation. In the order of AWS's error table, around the structural
 * read SPEKE v1 uses too:
 *
 *   1. the document (`document-rules.ts`): root, CPIX@contentId and @version, no v1 vocabulary,
 *      the mandatory lists and their items' mandatory attributes, key periods;
 *   2. the structural read (`read-request.ts`), its 400s turned into 422s (well-formed but invalid);
 *   3. the request (`request-rules.ts`): one scheme, a DRMSystem per key, HLSSignalingData playlists;
 *   4. the encryption contract (`encryption-contract.ts`, with `track-types.ts` for the presets and
 *      `usage-rule-filters.ts` for each rule's filters), failing with AWS's exact messages
 *      (`contract-errors.ts`).
 *
 * A fifth rule, every DRM system supports its key's scheme (`checkDrmSchemes`), needs the DRM
 * registry, so the SPEKE service runs it once the systems are known. Pure; nothing here logs.
 */
import type { EncryptionScheme } from '../../drm/drm-system';
import { BadRequestError, UnprocessableError } from '../../errors';
import type { CpixRequest, SpekeV2Version } from '../cpix-model';
import { readRequest } from '../read-request';
import type { ReadonlyXmlElement } from '../xml-tree';
import { checkV2Document } from './document-rules';
import { checkEncryptionContract } from './encryption-contract';
import { checkPeriodTiming } from './period-timing';
import { checkV2Request } from './request-rules';

/** The DRM module lookup the scheme check needs: the schemes a system supports, undefined = any. */
type SchemesOf = (systemId: string) => readonly EncryptionScheme[] | undefined;

/** Runs the shared structural read for a v2 request: its 400s become 422s (well-formed but invalid). */
function asUnprocessable<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof BadRequestError) throw new UnprocessableError(err.message, err.details);
    throw err;
  }
}

/** Validates a SPEKE v2 document and returns the request read from it; the first rule broken is a 422. */
export function validateV2(root: ReadonlyXmlElement, speke: SpekeV2Version): CpixRequest {
  checkV2Document(root, speke);
  const request = asUnprocessable(() => readRequest(root, speke));
  checkV2Request(request);
  if (speke === '2.1') checkPeriodTiming(request.periods);
  checkEncryptionContract(request);
  return request;
}

/**
 * Every DRMSystem's system must support its key's scheme (FairPlay only `cbcs`, ...). Needs the DRM
 * registry, so the SPEKE service calls it with a lookup once the systems are known.
 */
export function checkDrmSchemes(request: CpixRequest, schemesOf: SchemesOf): void {
  const schemes = new Map(request.contentKeys.map((k) => [k.kid, k.scheme]));
  for (const drm of request.drmSystems) {
    const allowed = schemesOf(drm.systemId);
    const scheme = schemes.get(drm.kid);
    if (allowed && scheme && !allowed.includes(scheme)) {
      throw new UnprocessableError(`ContentKey@commonEncryptionScheme non compatible with DRMSystem ${drm.systemId}`);
    }
  }
}
