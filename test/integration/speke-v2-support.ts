/**
 * Checks the SPEKE v2 integration test applies to answers: XSD validation with xmllint (many documents
 * per invocation), "everything the encoder sent is still there", and the filled values themselves.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NS } from '../../src/cpix/namespaces';
import { attr, childElements, isElement, textOf, type XmlElement } from '../../src/cpix/xml-tree';
import { findAll } from '../helpers/cpix';
import { SHARED } from '../helpers/paths';

/** The DASH-IF schemas in the shared folder beside the repository. */
export const XSD = {
  '2.3': path.join(SHARED, 'docs/xsd/cpix-2.3/cpix.xsd'),
  '2.4': path.join(SHARED, 'docs/xsd/cpix-2.4/cpix.xsd'),
} as const;

/**
 * Validates documents against a schema in one xmllint run; returns the documents that fail, with
 * xmllint's messages. Throws if xmllint cannot be run, so a missing tool fails the test.
 */
export function xsdFailures(docs: Map<string, string>, xsd: string): Map<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-xsd-'));
  try {
    const files = [...docs.entries()].map(([name, xml], i) => {
      const file = path.join(dir, `${i}.xml`);
      fs.writeFileSync(file, xml);
      return { name, file };
    });
    const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', xsd, ...files.map((f) => f.file)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (run.error) throw run.error;
    const lines = run.stderr.split('\n');
    const failures = new Map<string, string>();
    for (const { name, file } of files) {
      if (lines.includes(`${file} validates`)) continue;
      failures.set(name, lines.filter((l) => l.startsWith(file)).join('\n') || run.stderr.slice(0, 2000));
    }
    return failures;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function realAttributes(el: XmlElement): Array<[string, string, string]> {
  return el.attrs.filter((a) => a.ns !== NS.xmlns).map((a) => [a.ns, a.local, a.value]);
}

/** Whether a response element can stand for a request element: same name, every request attribute kept. */
function covers(res: XmlElement, req: XmlElement): boolean {
  if (res.ns !== req.ns || res.local !== req.local) return false;
  const text = textOf(req).trim();
  if (text !== '' && textOf(res).trim() !== text) return false;
  return realAttributes(req).every(([ns, local, value]) =>
    res.attrs.some((a) => a.ns === ns && a.local === local && a.value === value),
  );
}

/** Request elements or attributes that are missing from the response (matched by name and attributes, in any order). */
export function missingFromResponse(req: XmlElement, res: XmlElement, where = req.qname): string[] {
  const unused = res.children.filter(isElement);
  const missing: string[] = [];
  for (const child of req.children.filter(isElement)) {
    const match = unused.find((candidate) => covers(candidate, child));
    const label = `${where}/${child.qname}${realAttributes(child)
      .map(([, l, v]) => `[@${l}="${v}"]`)
      .join('')}`;
    if (!match) {
      missing.push(label);
      continue;
    }
    unused.splice(unused.indexOf(match), 1);
    missing.push(...missingFromResponse(child, match, label));
  }
  const declared = req.attrs.filter((a) => a.ns === NS.xmlns);
  for (const d of declared)
    if (!res.attrs.some((a) => a.qname === d.qname && a.value === d.value)) missing.push(`${where}/@${d.qname}`);
  return missing;
}

const decode = (el: XmlElement) => Buffer.from(textOf(el), 'base64').toString('utf8');

/** Clear Key's ContentProtectionData is its license URL only (no pssh box: see src/drm/clearkey.ts). */
const CLEARKEY_SYSTEM_ID = 'e2719d58-a985-b3c9-781a-b030af78d30e';

/** Problems with the signalling of one filled DRMSystem: empty values, CPD pssh ≠ PSSH, unpaired HLS lines. */
export function signallingProblems(drm: XmlElement): string[] {
  const id = `DRMSystem ${attr(drm, 'systemId')} ${attr(drm, 'kid')}`;
  const problems: string[] = [];
  for (const child of drm.children.filter(isElement)) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(textOf(child))) problems.push(`${id}: ${child.local} is not filled with base64`);
  }
  const [pssh] = childElements(drm, NS.cpix, 'PSSH');
  const [cpd] = childElements(drm, NS.cpix, 'ContentProtectionData');
  if (attr(drm, 'systemId')?.toLowerCase() === CLEARKEY_SYSTEM_ID) {
    if (cpd && (decode(cpd).includes('pssh') || !decode(cpd).includes('<clearkey:Laurl'))) {
      problems.push(`${id}: Clear Key ContentProtectionData is not its license URL alone`);
    }
  } else if (
    pssh &&
    cpd &&
    !decode(cpd).includes(`<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">${textOf(pssh)}</cenc:pssh>`)
  ) {
    problems.push(`${id}: ContentProtectionData does not carry the PSSH box`);
  }
  const hls = childElements(drm, NS.cpix, 'HLSSignalingData');
  const media = hls.find((h) => attr(h, 'playlist') === 'media');
  const master = hls.find((h) => attr(h, 'playlist') !== 'media');
  if (media && master) {
    const [m, s] = [decode(media), decode(master)];
    if (!m.startsWith('#EXT-X-KEY:') || !s.startsWith('#EXT-X-SESSION-KEY:') || m.slice(11) !== s.slice(19)) {
      problems.push(`${id}: HLS media/master lines do not pair: ${m.slice(0, 60)} / ${s.slice(0, 60)}`);
    }
  }
  return problems;
}

/** Lower-case KIDs a fixture mentions (to check that nothing was stored for a rejected request). */
export function kidsIn(xml: string): string[] {
  const kids = [...xml.matchAll(/kid="([0-9a-fA-F-]{36})"/g)].map((m) => (m[1] as string).toLowerCase());
  return [...new Set(kids)];
}

/** The ContentKey elements of a document. */
export function contentKeys(root: XmlElement): XmlElement[] {
  return findAll(root, NS.cpix, 'ContentKey');
}
