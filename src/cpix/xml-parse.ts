import { BadRequestError } from '../errors';
import { CPIX_REQUEST_LIMITS, checkXmlLimits, type XmlLimits } from './xml-limits';
import { readXml } from './xml-reader';
import type { XmlElement } from './xml-tree';

/** Rejects DTDs outright: no external entities, no entity expansion, nothing fetched. */
function rejectDoctype(xml: string): void {
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) {
    throw new BadRequestError('DOCTYPE and ENTITY declarations are not allowed in CPIX documents');
  }
}

/**
 * Parses an XML document into a namespace-resolved tree. Pure and defensive: rejects DTDs, a document
 * over `limits` (default: the request limits) with an XmlLimitError naming the limit, then reads it in
 * one pass (`xml-reader.ts`), refusing malformed XML, undefined entities and unbound prefixes with a
 * BadRequestError naming the problem and where it is. Every step is linear in the document's length.
 */
export function parseXml(xml: string, limits: XmlLimits = CPIX_REQUEST_LIMITS): XmlElement {
  rejectDoctype(xml);
  checkXmlLimits(xml, limits);
  return readXml(xml, limits);
}
