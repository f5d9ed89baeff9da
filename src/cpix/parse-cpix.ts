import type { CpixRequest, SpekeVersion } from './cpix-model';
import { readRequest } from './read-request';
import { validateV2 } from './v2/validate-v2';
import { parseXml } from './xml-parse';
import { freezeTree } from './xml-tree';

/** Freezes the typed view (entries and their lists; Buffers cannot be frozen and are left as they are). */
function freezeView(request: CpixRequest): CpixRequest {
  for (const list of [request.contentKeys, request.drmSystems, request.periods, request.usageRules]) {
    for (const entry of list) Object.freeze(entry);
    Object.freeze(list);
  }
  for (const rule of request.usageRules) Object.freeze(rule.periodIds);
  return Object.freeze(request);
}

/**
 * Parses and validates a CPIX request. Pure: XML in, typed request out; anything not understood is
 * rejected with a message naming the element, attribute or KID. SPEKE v2 adds its own rules around the
 * shared structural read (`v2/validate-v2.ts`); there, only malformed XML stays a 400. The request is
 * frozen, tree included: response builders copy what they change, so it can be answered more than once.
 */
export function parseCpix(xml: string, speke: SpekeVersion = '1.0'): CpixRequest {
  const tree = parseXml(xml);
  const root = freezeTree(tree);
  const request = speke === '1.0' ? readRequest(root, speke) : validateV2(root, speke);
  return freezeView(request);
}
