import { BadRequestError } from '../errors';
import type { EncryptionScheme } from '../drm/drm-system';
import type {
  ContentKeyEntry,
  CpixRequest,
  DrmSystemEntry,
  KeyPeriodEntry,
  SpekeVersion,
  UsageRuleEntry,
} from './cpix-model';
import { RESOURCE_ID_PATTERN, UUID_PATTERN } from '../domain/ids';
import { findDeliveryCertificate } from './delivery-certificate';
import { NS } from './namespaces';
import { attr, childElements, type ReadonlyXmlElement } from './xml-tree';

const SCHEMES: readonly EncryptionScheme[] = ['cenc', 'cbc1', 'cens', 'cbcs'];

/** Lists under the root: the element if present, its children of one kind. */
function list(root: ReadonlyXmlElement, listName: string, itemName: string): ReadonlyXmlElement[] {
  const lists = childElements(root, NS.cpix, listName);
  if (lists.length > 1) throw new BadRequestError(`cpix:${listName} appears more than once`);
  return lists[0] ? childElements(lists[0], NS.cpix, itemName) : [];
}

function requireKid(el: ReadonlyXmlElement, where: string): string {
  const kid = attr(el, 'kid');
  if (kid === undefined) throw new BadRequestError(`Missing ${where}@kid`);
  if (!UUID_PATTERN.test(kid)) throw new BadRequestError(`${where}@kid "${kid}" is not a UUID`);
  return kid.toLowerCase();
}

function decodeIv(value: string, kid: string): Buffer {
  const iv = Buffer.from(value, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || iv.length !== 16) {
    throw new BadRequestError(`ContentKey@explicitIV for KID ${kid} must be base64 of 16 bytes`);
  }
  return iv;
}

function parseScheme(el: ReadonlyXmlElement, kid: string): EncryptionScheme | undefined {
  const scheme = attr(el, 'commonEncryptionScheme');
  if (scheme === undefined) return undefined;
  if (!(SCHEMES as readonly string[]).includes(scheme)) {
    throw new BadRequestError(
      `ContentKey@commonEncryptionScheme "${scheme}" for KID ${kid} is not one of ${SCHEMES.join(', ')}`,
    );
  }
  return scheme as EncryptionScheme;
}

function parseContentKeys(root: ReadonlyXmlElement): ContentKeyEntry[] {
  const keys = list(root, 'ContentKeyList', 'ContentKey');
  if (keys.length === 0) throw new BadRequestError('cpix:ContentKeyList must contain at least one cpix:ContentKey');
  const seen = new Set<string>();
  return keys.map((element) => {
    const kid = requireKid(element, 'ContentKey');
    if (seen.has(kid)) throw new BadRequestError(`Duplicate ContentKey@kid ${kid}`);
    seen.add(kid);
    const iv = attr(element, 'explicitIV');
    return {
      kid,
      explicitIV: iv === undefined ? undefined : decodeIv(iv, kid),
      scheme: parseScheme(element, kid),
      element,
    };
  });
}

function parseDrmSystems(root: ReadonlyXmlElement, kids: Set<string>): DrmSystemEntry[] {
  return list(root, 'DRMSystemList', 'DRMSystem').map((element) => {
    const kid = requireKid(element, 'DRMSystem');
    if (!kids.has(kid)) throw new BadRequestError(`DRMSystem@kid ${kid} does not refer to a ContentKey`);
    const systemId = attr(element, 'systemId');
    if (systemId === undefined) throw new BadRequestError(`Missing DRMSystem@systemId for KID ${kid}`);
    if (!UUID_PATTERN.test(systemId)) throw new BadRequestError(`DRMSystem@systemId "${systemId}" is not a UUID`);
    return { kid, systemId: systemId.toLowerCase(), element };
  });
}

function parsePeriods(root: ReadonlyXmlElement): KeyPeriodEntry[] {
  const seen = new Set<string>();
  return list(root, 'ContentKeyPeriodList', 'ContentKeyPeriod').map((el) => {
    const id = attr(el, 'id');
    if (id === undefined || id === '') throw new BadRequestError('Missing ContentKeyPeriod@id');
    if (seen.has(id)) throw new BadRequestError(`Duplicate ContentKeyPeriod@id "${id}"`);
    seen.add(id);
    const rawIndex = attr(el, 'index');
    if (rawIndex !== undefined && !/^\d{1,15}$/.test(rawIndex)) {
      throw new BadRequestError(`ContentKeyPeriod@index "${rawIndex}" of period "${id}" is not a non-negative integer`);
    }
    return {
      id,
      index: rawIndex === undefined ? undefined : Number(rawIndex),
      start: attr(el, 'start'),
      end: attr(el, 'end'),
      startOffset: attr(el, 'startOffset'),
      endOffset: attr(el, 'endOffset'),
    };
  });
}

function parseUsageRules(root: ReadonlyXmlElement, kids: Set<string>, periods: KeyPeriodEntry[]): UsageRuleEntry[] {
  const periodIds = new Set(periods.map((p) => p.id));
  return list(root, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule').map((element) => {
    const kid = requireKid(element, 'ContentKeyUsageRule');
    if (!kids.has(kid)) throw new BadRequestError(`ContentKeyUsageRule@kid ${kid} does not refer to a ContentKey`);
    const refs = childElements(element, NS.cpix, 'KeyPeriodFilter').map((f) => {
      const periodId = attr(f, 'periodId');
      if (periodId === undefined || !periodIds.has(periodId)) {
        throw new BadRequestError(
          `KeyPeriodFilter@periodId "${periodId ?? ''}" for KID ${kid} does not refer to a ContentKeyPeriod`,
        );
      }
      return periodId;
    });
    return { kid, intendedTrackType: attr(element, 'intendedTrackType'), periodIds: refs, element };
  });
}

function checkRoot(root: ReadonlyXmlElement): void {
  if (root.ns !== NS.cpix || root.local !== 'CPIX') {
    throw new BadRequestError(
      `Root element must be CPIX in namespace ${NS.cpix}; got ${root.local} in ${root.ns === '' ? 'no namespace' : root.ns}`,
    );
  }
}

function resourceIdOf(root: ReadonlyXmlElement, speke: SpekeVersion): string {
  const name = speke === '1.0' ? 'id' : 'contentId';
  const id = attr(root, name) ?? (speke === '1.0' ? undefined : attr(root, 'id'));
  if (id === undefined || id === '') throw new BadRequestError(`Missing CPIX@${name}`);
  if (!RESOURCE_ID_PATTERN.test(id)) {
    throw new BadRequestError(
      `CPIX@${name} "${id.slice(0, 64)}" is not a valid resource ID: 1-256 characters of A-Z a-z 0-9 . _ ~ : @ + = -, starting with a letter or digit`,
    );
  }
  return id;
}

/**
 * The structural read of a CPIX request, shared by SPEKE v1 and v2: the typed view (keys, DRM
 * systems, periods, usage rules, delivery certificate) over the tree. Anything not understood is a
 * 400 naming the element, attribute or KID; SPEKE v2 turns these into 422s (`v2/validate-v2.ts`).
 */
export function readRequest(root: ReadonlyXmlElement, speke: SpekeVersion): CpixRequest {
  checkRoot(root);
  const resourceId = resourceIdOf(root, speke);
  const contentKeys = parseContentKeys(root);
  const kids = new Set(contentKeys.map((k) => k.kid));
  const periods = parsePeriods(root);
  return {
    speke,
    resourceId,
    contentKeys,
    drmSystems: parseDrmSystems(root, kids),
    periods,
    usageRules: parseUsageRules(root, kids, periods),
    deliveryCertificate: findDeliveryCertificate(root),
    root,
  };
}
