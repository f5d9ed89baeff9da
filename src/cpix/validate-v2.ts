/**
 * SPEKE v2 request rules on top of the structural CPIX parse: the mandatory attributes and lists
 * ("SPEKE API v2 - Standard payload components"), AWS's exact 422 messages where it names them,
 * one encryption scheme per document and a valid encryption contract. Pure; nothing here logs.
 */
import type { EncryptionScheme } from '../drm/drm-system';
import { BadRequestError, UnprocessableError } from '../errors';
import type { CpixRequest, SpekeV2Version } from './cpix-model';
import { checkEncryptionContract } from './encryption-contract';
import { NS } from './namespaces';
import { checkNoV1Vocabulary, checkV2Root, checkV2Signalling } from './validate-v2-elements';
import { attr, childElements, type XmlElement } from './xml-tree';

/** The CPIX version each SPEKE v2 generation speaks. */
export const CPIX_VERSION_FOR: Readonly<Record<SpekeV2Version, string>> = { '2.0': '2.3', '2.1': '2.4' };

/** The DRM module lookup the scheme check needs: the schemes a system supports, undefined = any. */
export type SchemesOf = (systemId: string) => readonly EncryptionScheme[] | undefined;

function present(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

function requireRootAttributes(root: XmlElement, speke: SpekeV2Version): void {
  if (!present(attr(root, 'contentId'))) throw new UnprocessableError('Missing CPIX@contentId');
  const version = attr(root, 'version');
  if (!present(version)) throw new UnprocessableError('Missing CPIX@version');
  if (version.trim() !== CPIX_VERSION_FOR[speke]) throw new UnprocessableError('Unsupported CPIX@version');
}

/** A mandatory list: present once and not empty. A missing usage-rule list is a missing contract. */
function requireList(root: XmlElement, listName: string, itemName: string): XmlElement[] {
  const lists = childElements(root, NS.cpix, listName);
  if (lists.length > 1) throw new UnprocessableError(`cpix:${listName} appears more than once`);
  const items = lists[0] ? childElements(lists[0], NS.cpix, itemName) : [];
  if (items.length > 0) return items;
  if (listName === 'ContentKeyUsageRuleList') {
    throw new UnprocessableError('Missing CPIX encryption contract', {
      reason: `cpix:${listName} is missing or empty`,
    });
  }
  if (!lists[0]) throw new UnprocessableError(`Missing cpix:${listName}`);
  throw new UnprocessableError(`cpix:${listName} must contain at least one cpix:${itemName}`);
}

/** The attribute every item of a list needs; the item's KID names it (`kid` itself is checked first). */
function requireAttribute(items: XmlElement[], element: string, name: string): void {
  for (const item of items) {
    if (present(attr(item, name))) continue;
    if (name === 'kid') throw new UnprocessableError(`Missing ${element}@kid`);
    throw new UnprocessableError(`Missing ${element}@${name} for KID ${attr(item, 'kid')}`);
  }
}

/** SPEKE v2 tracks key periods by index ("Standard payload components": `id` and `index` are mandatory). */
function requirePeriods(root: XmlElement): void {
  const lists = childElements(root, NS.cpix, 'ContentKeyPeriodList');
  if (lists.length === 0) return;
  const periods = requireList(root, 'ContentKeyPeriodList', 'ContentKeyPeriod');
  for (const period of periods) {
    const id = attr(period, 'id');
    if (!present(id)) throw new UnprocessableError('Missing ContentKeyPeriod@id');
    if (!present(attr(period, 'index'))) {
      throw new UnprocessableError(`Missing ContentKeyPeriod@index for period "${id}"`);
    }
  }
}

/**
 * Checks what SPEKE v2 requires before the structural parse, in the order of AWS's error table:
 * root, CPIX@contentId, CPIX@version, no v1 vocabulary, the three mandatory lists and their items'
 * mandatory attributes.
 */
export function preValidateV2(root: XmlElement, speke: SpekeV2Version): void {
  checkV2Root(root);
  requireRootAttributes(root, speke);
  checkNoV1Vocabulary(root);
  const keys = requireList(root, 'ContentKeyList', 'ContentKey');
  requireAttribute(keys, 'ContentKey', 'kid');
  requireAttribute(keys, 'ContentKey', 'commonEncryptionScheme');
  const drms = requireList(root, 'DRMSystemList', 'DRMSystem');
  requireAttribute(drms, 'DRMSystem', 'kid');
  requireAttribute(drms, 'DRMSystem', 'systemId');
  const rules = requireList(root, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule');
  requireAttribute(rules, 'ContentKeyUsageRule', 'kid');
  requireAttribute(rules, 'ContentKeyUsageRule', 'intendedTrackType');
  requirePeriods(root);
}

/** Runs the shared structural parse for a v2 request: its 400s become 422s (well-formed but invalid). */
export function asUnprocessable<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof BadRequestError) throw new UnprocessableError(err.message, err.details);
    throw err;
  }
}

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

/** Checks a structurally parsed v2 request: one scheme, a DRMSystem per key, signalling elements, the contract. */
export function validateV2(request: CpixRequest): void {
  checkOneScheme(request);
  checkDrmSystemPerKey(request);
  for (const drm of request.drmSystems) checkV2Signalling(drm);
  checkEncryptionContract(request);
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
