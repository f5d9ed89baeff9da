/**
 * SPEKE v2 rules checked on the document before the structural read, in the order of AWS's error
 * table ("SPEKE API v2 - Standard payload components"): the CPIX root, CPIX@contentId and @version,
 * no SPEKE v1 vocabulary (the `speke:` namespace and `cpix:URIExtXKey` were replaced by
 * `cpix:HLSSignalingData`), the three mandatory lists and their items' mandatory attributes, key periods.
 */
import { UnprocessableError } from '../../errors';
import type { SpekeV2Version } from '../cpix-model';
import { NS } from '../namespaces';
import { attr, childElements, isElement, type ReadonlyXmlElement } from '../xml-tree';
import { contractError } from './contract-errors';

/** The CPIX version each SPEKE v2 generation speaks. */
const CPIX_VERSION_FOR: Readonly<Record<SpekeV2Version, string>> = { '2.0': '2.3', '2.1': '2.4' };

function present(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/** True when any element or attribute in the tree, or a namespace declaration, uses the namespace URI. */
function usesNamespace(el: ReadonlyXmlElement, ns: string): boolean {
  if (el.ns === ns || el.attrs.some((a) => a.ns === ns || (a.ns === NS.xmlns && a.value === ns))) return true;
  return el.children.some((c) => isElement(c) && usesNamespace(c, ns));
}

function findElement(el: ReadonlyXmlElement, ns: string, local: string): ReadonlyXmlElement | undefined {
  if (el.ns === ns && el.local === local) return el;
  for (const child of el.children) {
    const found = isElement(child) ? findElement(child, ns, local) : undefined;
    if (found) return found;
  }
  return undefined;
}

/** The root is `cpix:CPIX`. */
function checkV2Root(root: ReadonlyXmlElement): void {
  if (root.ns !== NS.cpix || root.local !== 'CPIX') {
    const got = root.ns === '' ? 'no namespace' : root.ns;
    throw new UnprocessableError(`Root element must be CPIX in namespace ${NS.cpix}; got ${root.local} in ${got}`);
  }
}

function requireRootAttributes(root: ReadonlyXmlElement, speke: SpekeV2Version): void {
  if (!present(attr(root, 'contentId'))) throw new UnprocessableError('Missing CPIX@contentId');
  const version = attr(root, 'version');
  if (!present(version)) throw new UnprocessableError('Missing CPIX@version');
  if (version.trim() !== CPIX_VERSION_FOR[speke]) throw new UnprocessableError('Unsupported CPIX@version');
}

/** The document uses no SPEKE v1-only vocabulary, which a v2 answer could not carry. */
function checkNoV1Vocabulary(root: ReadonlyXmlElement): void {
  if (usesNamespace(root, NS.speke)) {
    throw new UnprocessableError(
      `The ${NS.speke} namespace is SPEKE v1 only; SPEKE v2 uses cpix:HLSSignalingData and cpix:SmoothStreamingProtectionHeaderData`,
    );
  }
  if (findElement(root, NS.cpix, 'URIExtXKey')) {
    throw new UnprocessableError('cpix:URIExtXKey is SPEKE v1 only; SPEKE v2 uses cpix:HLSSignalingData');
  }
}

/** A mandatory list: present once and not empty. A missing usage-rule list is a missing contract. */
function requireList(root: ReadonlyXmlElement, listName: string, itemName: string): ReadonlyXmlElement[] {
  const lists = childElements(root, NS.cpix, listName);
  if (lists.length > 1) throw new UnprocessableError(`cpix:${listName} appears more than once`);
  const items = lists[0] ? childElements(lists[0], NS.cpix, itemName) : [];
  if (items.length > 0) return items;
  if (listName === 'ContentKeyUsageRuleList') throw contractError('missing', `cpix:${listName} is missing or empty`);
  if (!lists[0]) throw new UnprocessableError(`Missing cpix:${listName}`);
  throw new UnprocessableError(`cpix:${listName} must contain at least one cpix:${itemName}`);
}

/** The attribute every item of a list needs; the item's KID names it (`kid` itself is checked first). */
function requireAttribute(items: readonly ReadonlyXmlElement[], element: string, name: string): void {
  for (const item of items) {
    if (present(attr(item, name))) continue;
    if (name === 'kid') throw new UnprocessableError(`Missing ${element}@kid`);
    throw new UnprocessableError(`Missing ${element}@${name} for KID ${attr(item, 'kid')}`);
  }
}

/**
 * SPEKE v2 tracks key periods by index ("Standard payload components": `id` and `index` are mandatory);
 * v2.1 may name a period by its time instead (`v2/period-timing.ts` checks the timing).
 */
function requirePeriods(root: ReadonlyXmlElement, speke: SpekeV2Version): void {
  const lists = childElements(root, NS.cpix, 'ContentKeyPeriodList');
  if (lists.length === 0) return;
  const periods = requireList(root, 'ContentKeyPeriodList', 'ContentKeyPeriod');
  for (const period of periods) {
    const id = attr(period, 'id');
    if (!present(id)) throw new UnprocessableError('Missing ContentKeyPeriod@id');
    const timed = speke === '2.1' && ['start', 'end', 'startOffset', 'endOffset'].some((a) => present(attr(period, a)));
    if (!present(attr(period, 'index')) && !timed) {
      throw new UnprocessableError(`Missing ContentKeyPeriod@index for period "${id}"`);
    }
  }
}

/** Checks what SPEKE v2 requires of the document before the structural read, in AWS's order. */
export function checkV2Document(root: ReadonlyXmlElement, speke: SpekeV2Version): void {
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
  requirePeriods(root, speke);
}
