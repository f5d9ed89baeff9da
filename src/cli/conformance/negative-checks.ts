/**
 * Invalid requests a key provider must refuse with a 4xx (never a 2xx, never a 5xx): malformed
 * XML, missing mandatory elements and attributes, unknown references, and for SPEKE v2 the
 * contract errors AWS documents (whose messages are reported, not required).
 */
import crypto from 'node:crypto';
import { NS } from '../../cpix/namespaces';
import { serializeXml } from '../../cpix/xml-serialize';
import { childElements, setAttr, type XmlElement } from '../../cpix/xml-tree';
import { serverMessage } from '../http-client';
import { buildCpixRequest, type CpixRequestSpec } from '../cpix-request-builder';
import type { DrmName } from '../drm-names';
import { CheckFailedError, describeAnswer, pass, resourceIdFor, type Check, type ConformanceContext } from './check';
import { v2PrimaryDrm } from './v2-checks';

interface NegativeCase {
  name: string;
  speke: '1.0' | '2.0';
  description: string;
  /** The message AWS documents for this error (SPEKE v2), matched case-insensitively as a prefix. */
  awsMessage?: string;
  /** X-Speke-Version to send instead of the version's own. */
  header?: string;
  spec?: Partial<CpixRequestSpec>;
  /** Breaks a valid request tree in place; or returns a raw body. */
  mutate: (root: XmlElement) => void | string;
}

const list = (root: XmlElement, name: string) => childElements(root, NS.cpix, name)[0] as XmlElement;
const items = (root: XmlElement, listName: string, item: string) => childElements(list(root, listName), NS.cpix, item);
const removeAttr = (el: XmlElement, name: string) => {
  el.attrs = el.attrs.filter((a) => !(a.ns === '' && a.local === name));
};
const removeChild = (root: XmlElement, name: string) => {
  root.children = root.children.filter((c) => c !== list(root, name));
};
const malformed = (speke: '1.0' | '2.0') => (): string =>
  `<?xml version="1.0"?><cpix:CPIX ${speke === '1.0' ? 'id' : 'contentId'}="x" xmlns:cpix="${NS.cpix}"><cpix:ContentKeyList><cpix:ContentKey kid="${crypto.randomUUID()}">`;

const V1_CASES: NegativeCase[] = [
  { name: 'malformed-xml', speke: '1.0', description: 'a body that is not well-formed XML', mutate: malformed('1.0') },
  {
    name: 'missing-cpix-id',
    speke: '1.0',
    description: 'CPIX without its id (the resource ID)',
    mutate: (r) => removeAttr(r, 'id'),
  },
  {
    name: 'missing-content-key-list',
    speke: '1.0',
    description: 'no cpix:ContentKeyList',
    mutate: (r) => removeChild(r, 'ContentKeyList'),
  },
  {
    name: 'content-key-without-kid',
    speke: '1.0',
    description: 'a cpix:ContentKey without kid',
    mutate: (r) => removeAttr(items(r, 'ContentKeyList', 'ContentKey')[0] as XmlElement, 'kid'),
  },
  {
    name: 'drm-system-unknown-kid',
    speke: '1.0',
    description: 'a cpix:DRMSystem whose kid is not a requested ContentKey',
    mutate: (r) => setAttr(items(r, 'DRMSystemList', 'DRMSystem')[0] as XmlElement, 'kid', crypto.randomUUID()),
  },
  {
    name: 'unknown-system-id',
    speke: '1.0',
    description: 'a cpix:DRMSystem with an unknown systemId',
    mutate: (r) => setAttr(items(r, 'DRMSystemList', 'DRMSystem')[0] as XmlElement, 'systemId', crypto.randomUUID()),
  },
];

const firstKey = (r: XmlElement) => items(r, 'ContentKeyList', 'ContentKey')[0] as XmlElement;

const V2_CASES: NegativeCase[] = [
  { name: 'malformed-xml', speke: '2.0', description: 'a body that is not well-formed XML', mutate: malformed('2.0') },
  {
    name: 'unsupported-speke-version',
    speke: '2.0',
    description: 'X-Speke-Version: 9.9',
    header: '9.9',
    awsMessage: 'Unsupported SPEKE version',
    mutate: () => undefined,
  },
  {
    name: 'missing-content-id',
    speke: '2.0',
    description: 'CPIX without contentId',
    awsMessage: 'Missing CPIX@contentId',
    mutate: (r) => removeAttr(r, 'contentId'),
  },
  {
    name: 'missing-cpix-version',
    speke: '2.0',
    description: 'CPIX without version',
    awsMessage: 'Missing CPIX@version',
    mutate: (r) => removeAttr(r, 'version'),
  },
  {
    name: 'unsupported-cpix-version',
    speke: '2.0',
    description: 'CPIX version="9.9"',
    awsMessage: 'Unsupported CPIX@version',
    mutate: (r) => setAttr(r, 'version', '9.9'),
  },
  {
    name: 'missing-scheme',
    speke: '2.0',
    description: 'a ContentKey without commonEncryptionScheme',
    awsMessage: 'Missing ContentKey@commonEncryptionScheme',
    mutate: (r) => removeAttr(firstKey(r), 'commonEncryptionScheme'),
  },
  {
    name: 'mixed-schemes',
    speke: '2.0',
    description: 'ContentKeys with different commonEncryptionSchemes',
    awsMessage: 'Non compliant ContentKey@commonEncryptionScheme combination',
    mutate: (r) => {
      const keys = items(r, 'ContentKeyList', 'ContentKey');
      const other =
        keys[0]?.attrs.find((a) => a.local === 'commonEncryptionScheme')?.value === 'cenc' ? 'cbcs' : 'cenc';
      setAttr(keys[1] as XmlElement, 'commonEncryptionScheme', other);
    },
  },
  {
    name: 'missing-encryption-contract',
    speke: '2.0',
    description: 'no ContentKeyUsageRuleList',
    awsMessage: 'Missing CPIX encryption contract',
    mutate: (r) => removeChild(r, 'ContentKeyUsageRuleList'),
  },
  {
    name: 'key-without-usage-rule',
    speke: '2.0',
    description: 'a ContentKey no usage rule refers to',
    mutate: (r) => {
      const rules = list(r, 'ContentKeyUsageRuleList');
      rules.children = rules.children.filter(
        (c) => c !== items(r, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule')[1],
      );
    },
  },
  {
    name: 'all-mixed-with-track-types',
    speke: '2.0',
    description: 'an intendedTrackType="ALL" rule next to specific track types',
    mutate: (r) =>
      setAttr(items(r, 'ContentKeyUsageRuleList', 'ContentKeyUsageRule')[0] as XmlElement, 'intendedTrackType', 'ALL'),
  },
  {
    name: 'unknown-system-id',
    speke: '2.0',
    description: 'a cpix:DRMSystem with an unknown systemId',
    mutate: (r) => setAttr(items(r, 'DRMSystemList', 'DRMSystem')[0] as XmlElement, 'systemId', crypto.randomUUID()),
  },
];

const FAIRPLAY_CENC: NegativeCase = {
  name: 'fairplay-with-cenc',
  speke: '2.0',
  description: 'FairPlay with commonEncryptionScheme="cenc"',
  awsMessage: 'ContentKey@commonEncryptionScheme non compatible with DRMSystem',
  spec: { drms: ['fairplay'], scheme: 'cenc' },
  mutate: () => undefined,
};

function body(ctx: ConformanceContext, c: NegativeCase): string {
  const drms: DrmName[] = [c.speke === '2.0' ? v2PrimaryDrm(ctx) : (ctx.drms[0] as DrmName)];
  const request = buildCpixRequest({
    speke: c.speke,
    resourceId: resourceIdFor(ctx, `reject-${c.name}`),
    drms,
    ...c.spec,
  });
  const raw = c.mutate(request.root);
  return typeof raw === 'string' ? raw : serializeXml(request.root);
}

function negativeCheck(c: NegativeCase): Check {
  const prefix = c.speke === '1.0' ? 'v1' : 'v2';
  return {
    name: `${prefix}.reject.${c.name}`,
    category: 'negative',
    speke: c.speke,
    description: `${c.description} is refused with a 4xx`,
    async run(ctx) {
      const result = await ctx.speke.post(body(ctx, c), {
        version: c.header ?? (c.speke === '2.0' ? '2.0' : undefined),
      });
      if (result.status < 400) throw new CheckFailedError(`accepted an invalid request (${describeAnswer(result)})`);
      if (result.status >= 500)
        throw new CheckFailedError(`answered ${describeAnswer(result)}; invalid input must get a 4xx`);
      const message = serverMessage(result);
      const matches = c.awsMessage === undefined || message.toLowerCase().startsWith(c.awsMessage.toLowerCase());
      const aws = matches ? '' : ` (AWS documents 422 "${c.awsMessage}")`;
      return pass(`HTTP ${result.status} "${message.slice(0, 100)}"${aws}`);
    },
  };
}

/** The negative checks for one SPEKE version (FairPlay's scheme check only when FairPlay is under test). */
export function negativeChecks(speke: '1.0' | '2.0', drms: readonly DrmName[]): Check[] {
  const cases = speke === '1.0' ? V1_CASES : [...V2_CASES, ...(drms.includes('fairplay') ? [FAIRPLAY_CENC] : [])];
  return cases.map(negativeCheck);
}
