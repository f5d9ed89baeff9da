import { execFileSync } from 'node:child_process';
import {
  X509Certificate,
  constants,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  privateDecrypt,
} from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptDocument } from '../../../src/cpix/decrypt-document';
import { findDeliveryCertificate, parseDeliveryCertificate } from '../../../src/cpix/delivery-certificate';
import { ALGORITHMS } from '../../../src/cpix/document-crypto';
import { encryptDocument } from '../../../src/cpix/encrypt-document';
import { NS } from '../../../src/cpix/namespaces';
import { childElements, firstChild, isElement, textOf, type XmlElement } from '../../../src/cpix/xml-tree';
import { BadRequestError } from '../../../src/errors';
import { SHARED } from '../../helpers/paths';

// ---------------------------------------------------------------------------------------------
// Fixtures and a tiny namespace-resolving tree builder / serializer (independent of the real parser)

const CERTS = join(__dirname, '../../fixtures/certs');
const CERT_B64 = readFileSync(join(CERTS, 'delivery.der.b64'), 'utf8').trim();
const CERT_DER = Buffer.from(CERT_B64, 'base64');
const PRIVATE_KEY = createPrivateKey(readFileSync(join(CERTS, 'delivery-key.pem')));
const NOW = new Date();
const CERT = parseDeliveryCertificate(CERT_DER, NOW);
const XSD = join(SHARED, 'docs/xsd/cpix-2.3/cpix.xsd');

const KID1 = '6c5f5206-7d98-4808-84d8-94f132c1e9fe';
const KID2 = '1a1c3a5f-93e3-4b4f-8a7e-1e1c2f5a2b10';
const KEY1 = Buffer.from('3a2a1b68dd2bd9b2eeb25e84c4776668', 'hex');
const KEY2 = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');

interface Spec {
  qname: string;
  attrs: Record<string, string>;
  children: Array<Spec | string>;
}

const h = (qname: string, attrs: Record<string, string> = {}, ...children: Array<Spec | string>): Spec => ({
  qname,
  attrs,
  children,
});

function build(spec: Spec, outer: Map<string, string> = new Map([['xml', NS.xml]])): XmlElement {
  const scope = new Map(outer);
  for (const [name, value] of Object.entries(spec.attrs)) {
    if (name === 'xmlns') scope.set('', value);
    else if (name.startsWith('xmlns:')) scope.set(name.slice(6), value);
  }
  const [prefix, local] = spec.qname.includes(':') ? spec.qname.split(':') : ['', spec.qname];
  const ns = scope.get(prefix as string);
  if (ns === undefined && prefix !== '') throw new Error(`test tree: unbound prefix ${prefix}`);
  return {
    qname: spec.qname,
    ns: ns ?? '',
    local: local as string,
    attrs: Object.entries(spec.attrs).map(([name, value]) =>
      name === 'xmlns' || name.startsWith('xmlns:')
        ? { qname: name, ns: NS.xmlns, local: name === 'xmlns' ? 'xmlns' : name.slice(6), value }
        : { qname: name, ns: '', local: name, value },
    ),
    children: spec.children.map((c) => (typeof c === 'string' ? { text: c } : build(c, scope))),
  };
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function toXml(el: XmlElement): string {
  const attrs = el.attrs.map((a) => ` ${a.qname}="${escapeXml(a.value)}"`).join('');
  const inner = el.children.map((c) => (isElement(c) ? toXml(c) : escapeXml(c.text))).join('');
  return `<${el.qname}${attrs}>${inner}</${el.qname}>`;
}

/** Asserts that every element's prefix resolves, in scope, to the namespace the tree says it has. */
function expectConsistentPrefixes(el: XmlElement, outer: Map<string, string> = new Map()): void {
  const scope = new Map(outer);
  for (const a of el.attrs) {
    if (a.qname === 'xmlns') scope.set('', a.value);
    else if (a.qname.startsWith('xmlns:')) scope.set(a.qname.slice(6), a.value);
  }
  const prefix = el.qname.includes(':') ? (el.qname.split(':')[0] as string) : '';
  expect({ element: el.qname, ns: scope.get(prefix) ?? '' }).toEqual({ element: el.qname, ns: el.ns });
  for (const c of el.children) if (isElement(c)) expectConsistentPrefixes(c, scope);
}

/** The certificate as encoders send it: wrapped at 64 characters and indented. */
const wrappedCert = (): string =>
  '\n' + (CERT_B64.match(/.{1,64}/g) as string[]).map((l) => `        ${l}`).join('\n') + '\n';

/** A filled ContentKey; `data` adds attributes (namespace declarations) to its cpix:Data. */
function contentKey(kid: string, key: Buffer, pskc = 'pskc', data: Record<string, string> = {}): Spec {
  return h(
    'cpix:ContentKey',
    { kid, commonEncryptionScheme: 'cenc' },
    h('cpix:Data', data, h(`${pskc}:Secret`, {}, h(`${pskc}:PlainValue`, {}, key.toString('base64')))),
  );
}

function deliveryData(certText = wrappedCert(), ...extra: Spec[]): Spec {
  return h(
    'cpix:DeliveryData',
    { id: 'recipient-1' },
    '\n    ',
    h('cpix:DeliveryKey', {}, h('ds:X509Data', {}, h('ds:X509Certificate', {}, certText))),
    ...extra,
  );
}

/** A filled SPEKE v2 response before encryption; `rootNs` replaces the root's namespace declarations. */
function filledDocument(
  opts: { rootNs?: Record<string, string>; delivery?: Spec[]; keys?: Spec[]; description?: boolean } = {},
): XmlElement {
  const rootNs = opts.rootNs ?? { 'xmlns:cpix': NS.cpix, 'xmlns:pskc': NS.pskc, 'xmlns:ds': NS.ds };
  const dd = opts.delivery ?? [deliveryData(undefined, ...(opts.description ? [h('cpix:Description', {}, 'QA')] : []))];
  return build(
    h(
      'cpix:CPIX',
      { ...rootNs, contentId: 'movie-1', version: '2.3' },
      h('cpix:DeliveryDataList', {}, ...dd),
      h('cpix:ContentKeyList', {}, ...(opts.keys ?? [contentKey(KID1, KEY1), contentKey(KID2, KEY2)])),
      h(
        'cpix:DRMSystemList',
        {},
        h(
          'cpix:DRMSystem',
          { kid: KID1, systemId: 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed' },
          h('cpix:PSSH', {}, 'AAAA'),
        ),
      ),
    ),
  );
}

function rejection(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('expected a BadRequestError, nothing was thrown');
}

function descendants(el: XmlElement, ns: string, local: string): XmlElement[] {
  const here = el.ns === ns && el.local === local ? [el] : [];
  return el.children.reduce<XmlElement[]>(
    (acc, c) => (isElement(c) ? acc.concat(descendants(c, ns, local)) : acc),
    here,
  );
}

/** Follows a path of [ns, local] steps (first match each), failing the test when a step is missing. */
function at(el: XmlElement, ...steps: Array<[string, string]>): XmlElement {
  let cur = el;
  for (const [ns, local] of steps) {
    const next = firstChild(cur, ns, local);
    if (!next) throw new Error(`missing ${local} under ${cur.qname}`);
    cur = next;
  }
  return cur;
}

const b64 = (el: XmlElement): Buffer => Buffer.from(textOf(el), 'base64');
const C = (local: string): [string, string] => [NS.cpix, local];
const P = (local: string): [string, string] => [NS.pskc, local];
const E = (local: string): [string, string] => [NS.enc, local];
const elementNames = (el: XmlElement): string[] => el.children.filter(isElement).map((c) => c.local);

function deliveryDataOf(root: XmlElement): XmlElement {
  return at(root, C('DeliveryDataList'), C('DeliveryData'));
}

function contentKeyEl(root: XmlElement, kid: string): XmlElement {
  const key = childElements(at(root, C('ContentKeyList')), NS.cpix, 'ContentKey').find((k) =>
    k.attrs.some((a) => a.local === 'kid' && a.value === kid),
  );
  if (!key) throw new Error(`no ContentKey ${kid}`);
  return key;
}

function flipFirstBit(el: XmlElement): void {
  const bytes = b64(el);
  bytes[0] = (bytes[0] as number) ^ 0x80;
  el.children = [{ text: bytes.toString('base64') }];
}

// ---------------------------------------------------------------------------------------------

describe('findDeliveryCertificate', () => {
  it('returns the DER certificate, tolerating line breaks and indentation in the base64', () => {
    const der = findDeliveryCertificate(filledDocument());
    expect(der?.equals(CERT_DER)).toBe(true);
  });

  it('matches on namespace URI and local name, not on the prefix', () => {
    const doc = build(
      h(
        'CPIX',
        { xmlns: NS.cpix, 'xmlns:sig': NS.ds },
        h(
          'DeliveryDataList',
          {},
          h('DeliveryData', {}, h('DeliveryKey', {}, h('sig:X509Data', {}, h('sig:X509Certificate', {}, CERT_B64)))),
        ),
      ),
    );
    expect(findDeliveryCertificate(doc)?.equals(CERT_DER)).toBe(true);

    const foreign = build(
      h(
        'cpix:CPIX',
        { 'xmlns:cpix': NS.cpix, 'xmlns:x': 'urn:not-cpix', 'xmlns:ds': NS.ds },
        h(
          'x:DeliveryDataList',
          {},
          h('x:DeliveryData', {}, h('x:DeliveryKey', {}, h('ds:X509Data', {}, h('ds:X509Certificate', {}, CERT_B64)))),
        ),
      ),
    );
    expect(findDeliveryCertificate(foreign)).toBeUndefined();
  });

  it('returns undefined for a clear request (no DeliveryDataList, or an empty one)', () => {
    expect(findDeliveryCertificate(filledDocument({ delivery: [] }))).toBeUndefined();
    const noList = build(h('cpix:CPIX', { 'xmlns:cpix': NS.cpix }, h('cpix:ContentKeyList', {})));
    expect(findDeliveryCertificate(noList)).toBeUndefined();
  });

  it('rejects malformed base64', () => {
    const err = rejection(() =>
      findDeliveryCertificate(filledDocument({ delivery: [deliveryData('MIIC*not base64*')] })),
    );
    expect(err.message).toBe('cpix:DeliveryKey/ds:X509Data/ds:X509Certificate is not valid base64');
    expect(
      rejection(() => findDeliveryCertificate(filledDocument({ delivery: [deliveryData('  ')] }))).message,
    ).toMatch(/not valid base64/);
    expect(
      rejection(() => findDeliveryCertificate(filledDocument({ delivery: [deliveryData('QUJD=')] }))).message,
    ).toMatch(/not valid base64/);
  });

  it('rejects a DeliveryData without a certificate, and more than one recipient', () => {
    const noCert = build(
      h(
        'cpix:CPIX',
        { 'xmlns:cpix': NS.cpix },
        h('cpix:DeliveryDataList', {}, h('cpix:DeliveryData', {}, h('cpix:DeliveryKey', {}))),
      ),
    );
    expect(rejection(() => findDeliveryCertificate(noCert)).message).toMatch(
      /has no cpix:DeliveryKey\/ds:X509Data\/ds:X509Certificate/,
    );
    const two = filledDocument({ delivery: [deliveryData(), deliveryData()] });
    expect(rejection(() => findDeliveryCertificate(two)).message).toMatch(
      /exactly one recipient; .* 2 cpix:DeliveryData/,
    );
  });
});

describe('encryptDocument', () => {
  it('leaves no PlainValue and round-trips through decryptDocument', () => {
    const doc = filledDocument();
    encryptDocument(doc, CERT, '2.3');
    expect(descendants(doc, NS.pskc, 'PlainValue')).toHaveLength(0);
    expect(toXml(doc)).not.toContain('PlainValue');
    expect(toXml(doc)).not.toContain(KEY1.toString('base64'));
    const keys = decryptDocument(doc, PRIVATE_KEY);
    expect([...keys.keys()].sort()).toEqual([KID1, KID2].sort());
    expect(keys.get(KID1)?.equals(KEY1)).toBe(true);
    expect(keys.get(KID2)?.equals(KEY2)).toBe(true);
  });

  it('writes DocumentKey and MACMethod in AWS form, decryptable with node:crypto alone', () => {
    const doc = filledDocument();
    encryptDocument(doc, CERT, '2.3');
    const dd = deliveryDataOf(doc);
    const oaep = { key: PRIVATE_KEY, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' } as const;

    const docKeyEl = at(dd, C('DocumentKey'));
    expect(docKeyEl.attrs.find((a) => a.local === 'Algorithm')?.value).toBe(ALGORITHMS.aes256Cbc);
    const docSecret = at(docKeyEl, C('Data'), P('Secret'));
    expect(elementNames(docSecret)).toEqual(['EncryptedValue', 'ValueMAC']);
    expect(at(docSecret, P('EncryptedValue'), E('EncryptionMethod')).attrs[0]?.value).toBe(ALGORITHMS.rsaOaepMgf1p);
    const wrappedDocKey = b64(at(docSecret, P('EncryptedValue'), E('CipherData'), E('CipherValue')));
    expect(wrappedDocKey).toHaveLength(256);
    const documentKey = privateDecrypt(oaep, wrappedDocKey);
    expect(documentKey).toHaveLength(32);

    const macMethod = at(dd, C('MACMethod'));
    expect(macMethod.attrs.find((a) => a.local === 'Algorithm')?.value).toBe(ALGORITHMS.hmacSha512);
    const macKeyEl = at(macMethod, C('Key'));
    expect(elementNames(macKeyEl)).toEqual(['EncryptedValue', 'ValueMAC']);
    expect(at(macKeyEl, P('EncryptedValue'), E('EncryptionMethod')).attrs[0]?.value).toBe(ALGORITHMS.rsaOaepMgf1p);
    const wrappedMacKey = b64(at(macKeyEl, P('EncryptedValue'), E('CipherData'), E('CipherValue')));
    const macKey = privateDecrypt(oaep, wrappedMacKey);
    expect(macKey).toHaveLength(64);

    const hmac = (data: Buffer): Buffer => createHmac('sha512', macKey).update(data).digest();
    expect(b64(at(docSecret, P('ValueMAC'))).equals(hmac(wrappedDocKey))).toBe(true);
    expect(b64(at(macKeyEl, P('ValueMAC'))).equals(hmac(wrappedMacKey))).toBe(true);

    for (const [kid, key] of [
      [KID1, KEY1],
      [KID2, KEY2],
    ] as const) {
      const secret = at(contentKeyEl(doc, kid), C('Data'), P('Secret'));
      expect(elementNames(secret)).toEqual(['EncryptedValue', 'ValueMAC']);
      expect(at(secret, P('EncryptedValue'), E('EncryptionMethod')).attrs[0]?.value).toBe(ALGORITHMS.aes256Cbc);
      const cipherValue = b64(at(secret, P('EncryptedValue'), E('CipherData'), E('CipherValue')));
      expect(cipherValue).toHaveLength(48);
      const mac = b64(at(secret, P('ValueMAC')));
      expect(mac).toHaveLength(64);
      expect(mac.equals(hmac(cipherValue))).toBe(true);
      const decipher = createDecipheriv('aes-256-cbc', documentKey, cipherValue.subarray(0, 16));
      expect(Buffer.concat([decipher.update(cipherValue.subarray(16)), decipher.final()]).equals(key)).toBe(true);
    }
  });

  it('keeps the CPIX 2.3 order DeliveryKey, DocumentKey, MACMethod, Description and the other content', () => {
    const doc = filledDocument({ description: true });
    encryptDocument(doc, CERT, '2.3');
    expect(elementNames(deliveryDataOf(doc))).toEqual(['DeliveryKey', 'DocumentKey', 'MACMethod', 'Description']);
    expect(elementNames(doc)).toEqual(['DeliveryDataList', 'ContentKeyList', 'DRMSystemList']);
    expect(textOf(at(doc, C('DRMSystemList'), C('DRMSystem'), C('PSSH')))).toBe('AAAA');
  });

  it('replaces a DocumentKey/MACMethod placeholder from the request, keeping its id', () => {
    const doc = filledDocument({
      delivery: [deliveryData(undefined, h('cpix:DocumentKey', { id: 'dk' }), h('cpix:MACMethod', { Algorithm: 'x' }))],
    });
    encryptDocument(doc, CERT, '2.3');
    const dd = deliveryDataOf(doc);
    expect(elementNames(dd)).toEqual(['DeliveryKey', 'DocumentKey', 'MACMethod']);
    expect(at(dd, C('DocumentKey')).attrs.map((a) => [a.local, a.value])).toEqual([
      ['id', 'dk'],
      ['Algorithm', ALGORITHMS.aes256Cbc],
    ]);
    expect(at(dd, C('MACMethod')).attrs.map((a) => a.value)).toEqual([ALGORITHMS.hmacSha512]);
    expect(decryptDocument(doc, PRIVATE_KEY).get(KID1)?.equals(KEY1)).toBe(true);
  });

  it('CPIX 2.4: writes no DocumentKey@Algorithm, not even one the request carried', () => {
    const doc = filledDocument({
      delivery: [deliveryData(undefined, h('cpix:DocumentKey', { id: 'dk', Algorithm: ALGORITHMS.aes256Cbc }))],
    });
    encryptDocument(doc, CERT, '2.4');
    expect(at(deliveryDataOf(doc), C('DocumentKey')).attrs.map((a) => [a.local, a.value])).toEqual([['id', 'dk']]);
    expect(decryptDocument(doc, PRIVATE_KEY).get(KID1)?.equals(KEY1)).toBe(true);
  });

  it('declares missing prefixes on the root (xmlns namespace) and keeps every prefix bound', () => {
    const local = { 'xmlns:pskc': NS.pskc };
    const doc = filledDocument({
      rootNs: { 'xmlns:cpix': NS.cpix, 'xmlns:ds': NS.ds },
      keys: [contentKey(KID1, KEY1, 'pskc', local), contentKey(KID2, KEY2, 'pskc', local)],
    });
    encryptDocument(doc, CERT, '2.3');
    const decls = doc.attrs.filter((a) => a.ns === NS.xmlns).map((a) => [a.qname, a.value]);
    expect(decls.sort()).toEqual([
      ['xmlns:cpix', NS.cpix],
      ['xmlns:ds', NS.ds],
      ['xmlns:enc', NS.enc],
      ['xmlns:pskc', NS.pskc],
    ]);
    expect(at(deliveryDataOf(doc), C('DocumentKey')).qname).toBe('cpix:DocumentKey');
    expect(descendants(doc, NS.enc, 'CipherValue')[0]?.qname).toBe('enc:CipherValue');
    expectConsistentPrefixes(doc);
  });

  it("reuses the document's own prefixes, including a default namespace", () => {
    const doc = filledDocument({
      rootNs: { xmlns: NS.cpix, 'xmlns:k': NS.pskc, 'xmlns:xenc': NS.enc, 'xmlns:cpix': NS.cpix, 'xmlns:ds': NS.ds },
      keys: [contentKey(KID1, KEY1, 'k'), contentKey(KID2, KEY2, 'k')],
    });
    const declsBefore = doc.attrs.length;
    encryptDocument(doc, CERT, '2.3');
    expect(doc.attrs).toHaveLength(declsBefore);
    expect(descendants(doc, NS.enc, 'EncryptionMethod').map((e) => e.qname)).toEqual(
      Array(4).fill('xenc:EncryptionMethod'),
    );
    expect(descendants(doc, NS.pskc, 'ValueMAC').map((e) => e.qname)).toEqual(Array(4).fill('k:ValueMAC'));
    expect(at(deliveryDataOf(doc), C('MACMethod')).qname).toBe('cpix:MACMethod');
    expectConsistentPrefixes(doc);

    const defaultOnly = build(
      h(
        'CPIX',
        { xmlns: NS.cpix, 'xmlns:ds': NS.ds, 'xmlns:pskc': NS.pskc },
        h(
          'DeliveryDataList',
          {},
          h('DeliveryData', {}, h('DeliveryKey', {}, h('ds:X509Data', {}, h('ds:X509Certificate', {}, CERT_B64)))),
        ),
        h(
          'ContentKeyList',
          {},
          h(
            'ContentKey',
            { kid: KID1 },
            h('Data', {}, h('pskc:Secret', {}, h('pskc:PlainValue', {}, KEY1.toString('base64')))),
          ),
        ),
      ),
    );
    encryptDocument(defaultOnly, CERT, '2.3');
    expect(at(deliveryDataOf(defaultOnly), C('DocumentKey')).qname).toBe('DocumentKey');
    expect(at(deliveryDataOf(defaultOnly), C('MACMethod'), C('Key')).qname).toBe('Key');
    expectConsistentPrefixes(defaultOnly);
    expect(decryptDocument(defaultOnly, PRIVATE_KEY).get(KID1)?.equals(KEY1)).toBe(true);
  });

  it('never picks a prefix that the document binds elsewhere to another namespace', () => {
    const doc = filledDocument();
    const pssh = at(doc, C('DRMSystemList'), C('DRMSystem'));
    pssh.children.push(build(h('enc:Custom', { 'xmlns:enc': 'urn:vendor:enc' })));
    encryptDocument(doc, CERT, '2.3');
    expect(doc.attrs.find((a) => a.value === NS.enc)?.qname).toBe('xmlns:enc1');
    expect(descendants(doc, NS.enc, 'CipherData')[0]?.qname).toBe('enc1:CipherData');
    expectConsistentPrefixes(doc);
  });

  it('refuses a PlainValue it would not encrypt, before changing anything', () => {
    const doc = filledDocument({
      delivery: [
        deliveryData(
          undefined,
          h('cpix:DocumentKey', {}, h('cpix:Data', {}, h('pskc:Secret', {}, h('pskc:PlainValue', {}, 'AAAA')))),
        ),
      ],
    });
    const before = toXml(doc);
    const err = rejection(() => encryptDocument(doc, CERT, '2.3'));
    expect(err.message).toMatch(/pskc:PlainValue outside cpix:ContentKeyList/);
    expect(toXml(doc)).toBe(before);
  });

  it('names the KID of a malformed PlainValue without echoing it', () => {
    const doc = filledDocument({ keys: [contentKey(KID1, KEY1), h('cpix:ContentKey', { kid: KID2 })] });
    const plain = descendants(doc, NS.pskc, 'PlainValue')[0] as XmlElement;
    plain.children = [{ text: 'secret!!' }];
    const err = rejection(() => encryptDocument(doc, CERT, '2.3'));
    expect(err.message).toBe(`pskc:PlainValue of ContentKey ${KID1} is not valid base64`);
  });

  it('leaves a ContentKey without Data alone', () => {
    const doc = filledDocument({ keys: [contentKey(KID1, KEY1), h('cpix:ContentKey', { kid: KID2 })] });
    encryptDocument(doc, CERT, '2.3');
    expect(elementNames(contentKeyEl(doc, KID2))).toEqual([]);
    expect([...decryptDocument(doc, PRIVATE_KEY).keys()]).toEqual([KID1]);
  });

  it('encrypts only for the certificate named in the document', () => {
    const other = parseDeliveryCertificate(
      Buffer.from(new X509Certificate(readFileSync(join(CERTS, 'expired.pem'))).raw),
      new Date('2020-06-01T00:00:00Z'),
    );
    expect(() => encryptDocument(filledDocument(), other, '2.3')).toThrow(/not the one in the document/);
    expect(() => encryptDocument(filledDocument({ delivery: [] }), CERT, '2.3')).toThrow(BadRequestError);
  });

  it('draws new keys for every response', () => {
    const a = filledDocument();
    const b = filledDocument();
    encryptDocument(a, CERT, '2.3');
    encryptDocument(b, CERT, '2.3');
    const cipherOf = (doc: XmlElement): string => textOf(descendants(doc, NS.enc, 'CipherValue')[0] as XmlElement);
    expect(cipherOf(a)).not.toBe(cipherOf(b));
  });

  const xmllint = ((): boolean => {
    try {
      execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
      return existsSync(XSD);
    } catch {
      return false;
    }
  })();

  (xmllint ? it : it.skip)('produces a document valid against the CPIX 2.3 XSD (needs xmllint)', () => {
    const doc = filledDocument({ description: true });
    encryptDocument(doc, CERT, '2.3');
    const dir = mkdtempSync(join(tmpdir(), 'keyplane-cpix-'));
    try {
      const file = join(dir, 'response.xml');
      writeFileSync(file, `<?xml version="1.0" encoding="UTF-8"?>\n${toXml(doc)}`);
      expect(() => execFileSync('xmllint', ['--noout', '--schema', XSD, file], { stdio: 'pipe' })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('decryptDocument', () => {
  function encrypted(): XmlElement {
    const doc = filledDocument();
    encryptDocument(doc, CERT, '2.3');
    return doc;
  }

  it('detects a flipped bit in a content key ValueMAC', () => {
    const doc = encrypted();
    flipFirstBit(at(contentKeyEl(doc, KID2), C('Data'), P('Secret'), P('ValueMAC')));
    const err = rejection(() => decryptDocument(doc, PRIVATE_KEY));
    expect(err.message).toBe(
      `ContentKey ${KID2}: pskc:ValueMAC does not match; the value was altered or the MAC key is wrong`,
    );
  });

  it('detects a flipped bit in a content key CipherValue before decrypting', () => {
    const doc = encrypted();
    flipFirstBit(
      at(contentKeyEl(doc, KID1), C('Data'), P('Secret'), P('EncryptedValue'), E('CipherData'), E('CipherValue')),
    );
    expect(rejection(() => decryptDocument(doc, PRIVATE_KEY)).message).toMatch(/ContentKey .*ValueMAC does not match/);
  });

  it('detects a tampered DocumentKey ValueMAC and requires the content key ValueMAC', () => {
    const doc = encrypted();
    flipFirstBit(at(deliveryDataOf(doc), C('DocumentKey'), C('Data'), P('Secret'), P('ValueMAC')));
    expect(rejection(() => decryptDocument(doc, PRIVATE_KEY)).message).toMatch(/^cpix:DocumentKey: pskc:ValueMAC/);

    const noMac = encrypted();
    const secret = at(contentKeyEl(noMac, KID1), C('Data'), P('Secret'));
    secret.children = secret.children.filter((c) => !(isElement(c) && c.local === 'ValueMAC'));
    expect(rejection(() => decryptDocument(noMac, PRIVATE_KEY)).message).toBe(
      `ContentKey ${KID1} has no pskc:ValueMAC`,
    );
  });

  it('accepts the DASH-IF/Axinom MAC key form (xenc elements directly under cpix:Key)', () => {
    const doc = encrypted();
    const key = at(deliveryDataOf(doc), C('MACMethod'), C('Key'));
    key.children = at(key, P('EncryptedValue')).children;
    expect(elementNames(key)).toEqual(['EncryptionMethod', 'CipherData']);
    expect(decryptDocument(doc, PRIVATE_KEY).get(KID2)?.equals(KEY2)).toBe(true);
  });

  it('refuses a key it is not addressed to', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(rejection(() => decryptDocument(encrypted(), privateKey)).message).toMatch(
      /not addressed to this private key|No cpix:DeliveryData/,
    );
  });

  it('refuses a clear document and a PlainValue inside an encrypted one', () => {
    expect(rejection(() => decryptDocument(filledDocument({ delivery: [] }), PRIVATE_KEY)).message).toMatch(
      /no cpix:DeliveryData/,
    );
    const doc = encrypted();
    const secret = at(contentKeyEl(doc, KID1), C('Data'), P('Secret'));
    secret.children.push(build(h('pskc:PlainValue', { 'xmlns:pskc': NS.pskc }, KEY1.toString('base64'))));
    expect(rejection(() => decryptDocument(doc, PRIVATE_KEY)).message).toMatch(/carries a pskc:PlainValue/);
  });
});
