import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { BadRequestError } from '../../src/errors';
import { parseXml } from '../../src/cpix/xml-parse';

// Keyplane reads CPIX with its own single-pass reader (src/cpix/xml-reader.ts). This holds it to
// libxml2 (`xmllint --noout`, the parser behind the XSD checks): for documents made by mangling real
// CPIX fixtures with markup characters, Keyplane accepts a document exactly when libxml2 finds it
// well-formed and namespace-well-formed.

const FIXTURES = path.join(__dirname, '../fixtures');
const SEEDS = [
  'v1/hls-single-key.xml',
  'v1/hls-default-namespace.xml',
  'v1/hls-key-period.xml',
  'v2/aws/vod-example.xml',
  'v2/aws/v21-widevine-master.xml',
].map((name) => fs.readFileSync(path.join(FIXTURES, name), 'utf8'));

/** Pieces the mangler inserts: markup characters, references, names, tags and the pieces of comments and CDATA. */
const PIECES = [
  '<',
  '>',
  '/',
  '"',
  "'",
  '=',
  '&',
  ';',
  '!',
  '-',
  '?',
  '[',
  ']',
  ' ',
  '\n',
  'a',
  ':',
  '1',
  '\u0001',
  'é',
  '&amp;',
  '&lt;',
  '&#65;',
  '&#x1F600;',
  '&#0;',
  '&#xFFFE;',
  '&bogus;',
  '&#12a;',
  '<!--',
  '-->',
  '--',
  '<![CDATA[',
  ']]>',
  '<?pi x?>',
  '<?xml version="1.0"?>',
  '<x>',
  '</x>',
  '<x/>',
  '<q:x/>',
  ' b="1"',
  " b='2'",
  ' xmlns:q="urn:q"',
  ' xmlns=""',
  ' xmlns:q=""',
  ' q:c="3"',
];

/** One edit: insert a piece, delete a few characters, or both, at a fraction of the document's length. */
const edit = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  insert: fc.option(fc.constantFrom(...PIECES), { nil: undefined }),
  remove: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 }),
});

function mangle(seed: string, edits: { at: number; insert?: string; remove: number }[]): string {
  // The XML declaration is left alone: libxml2 also judges its encoding label, which a decoded string has no use for.
  const declEnd = seed.startsWith('<?xml') ? seed.indexOf('?>') + 2 : 0;
  let doc = seed;
  for (const { at, insert, remove } of edits) {
    const i = declEnd + Math.floor(at * (doc.length - declEnd));
    doc = doc.slice(0, i) + (insert ?? '') + doc.slice(i + remove);
  }
  return doc;
}

function keyplaneAccepts(doc: string): boolean {
  try {
    parseXml(doc);
    return true;
  } catch (err) {
    if (err instanceof BadRequestError) return false;
    throw err;
  }
}

/** The documents libxml2 refuses, by index, from one xmllint run over all of them. */
function libxml2Refuses(docs: string[]): Set<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-xmllint-'));
  try {
    const files = docs.map((doc, i) => {
      const file = path.join(dir, `d${i}.xml`);
      fs.writeFileSync(file, doc);
      return file;
    });
    let stderr = '';
    try {
      execFileSync('xmllint', ['--noout', '--nonet', ...files], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    const refused = new Set<number>();
    for (const match of stderr.matchAll(/d(\d+)\.xml:\d+: (?:parser|namespace) error : (.*)/g)) {
      // libxml2 labels its URI checks "namespace error" but only warns: the document is still accepted.
      if (!/is not (a valid URI|absolute)$/.test(match[2] as string)) refused.add(Number(match[1]));
    }
    return refused;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the CPIX XML reader against libxml2', () => {
  it('takes the unmangled fixtures, as libxml2 does', () => {
    expect(libxml2Refuses(SEEDS).size).toBe(0);
    for (const seed of SEEDS) expect(keyplaneAccepts(seed)).toBe(true);
  });

  it('accepts a mangled document exactly when libxml2 finds it well-formed', () => {
    const cases = fc.sample(fc.tuple(fc.constantFrom(...SEEDS), fc.array(edit, { minLength: 1, maxLength: 2 })), {
      numRuns: 3000,
      seed: 20261207,
    });
    const docs = cases.map(([seed, edits]) => mangle(seed, edits));
    const refused = libxml2Refuses(docs);
    const disagreements = docs
      .map((doc, i) => ({ doc, libxml2: !refused.has(i), keyplane: keyplaneAccepts(doc) }))
      .filter((d) => d.libxml2 !== d.keyplane);
    expect(disagreements.slice(0, 3)).toEqual([]);
    // Both outcomes are exercised: the mangler makes plenty of each.
    expect(refused.size).toBeGreaterThan(1000);
    expect(docs.length - refused.size).toBeGreaterThan(300);
  });
});
