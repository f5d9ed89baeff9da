import type { CpixRequest, SpekeVersion } from './cpix-model';
import { readRequest } from './read-request';
import { validateV2 } from './v2/validate-v2';
import { parseXml } from './xml-parse';

/**
 * Parses and validates a CPIX request. Pure: XML in, typed request out; anything not understood is
 * rejected with a message naming the element, attribute or KID. SPEKE v2 adds its own rules around the
 * shared structural read (`v2/validate-v2.ts`); there, only malformed XML stays a 400. The request is
 * read-only, tree included (its types say so; it is not frozen at run time, which only cost time): response
 * builders copy what they change, so it can be answered more than once.
 */
export function parseCpix(xml: string, speke: SpekeVersion = '1.0'): CpixRequest {
  const root = parseXml(xml);
  return speke === '1.0' ? readRequest(root, speke) : validateV2(root, speke);
}
