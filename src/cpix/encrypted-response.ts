/**
 * Turns a filled CPIX tree into its encrypted form (DASH-IF CPIX 2.3 "Key Management", AWS SPEKE
 * "Content Key Encryption") and back. Layout written, as AWS documents it and its reference server
 * emits it:
 *
 *   cpix:DeliveryData
 *     cpix:DeliveryKey/ds:X509Data/ds:X509Certificate      (from the request)
 *     cpix:DocumentKey Algorithm=aes256-cbc
 *       cpix:Data/pskc:Secret/{pskc:EncryptedValue (rsa-oaep-mgf1p), pskc:ValueMAC}
 *     cpix:MACMethod Algorithm=hmac-sha512
 *       cpix:Key/{pskc:EncryptedValue (rsa-oaep-mgf1p), pskc:ValueMAC}
 *   cpix:ContentKey/cpix:Data/pskc:Secret/{pskc:EncryptedValue (aes256-cbc), pskc:ValueMAC}
 *
 * Every ValueMAC is HMAC-SHA512(MAC key, bytes of the CipherValue next to it). DASH-IF requires it
 * on content keys; AWS adds it to the wrapped document and MAC keys as well, and so do we.
 */
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { BadRequestError } from '../errors';
import {
  ALGORITHMS,
  DOCUMENT_KEY_BYTES,
  createDocumentKeys,
  decryptValue,
  encryptValue,
  normalizeFingerprint,
  unwrapKey,
  valueMac,
  verifyValueMac,
  wrapKey,
  type DeliveryCertificate,
} from './document-crypto';
import { NS } from './namespaces';
import { attr, childElements, firstChild, isElement, textOf, type XmlAttribute, type XmlElement } from './xml-tree';

// ---------------------------------------------------------------------------------------------
// Namespace prefixes for new elements

const PREFERRED_PREFIX: Record<string, string> = { [NS.cpix]: 'cpix', [NS.pskc]: 'pskc', [NS.enc]: 'enc' };

function isNamespaceDeclaration(a: XmlAttribute): boolean {
  return a.qname === 'xmlns' || a.qname.startsWith('xmlns:');
}

function declaredPrefix(a: XmlAttribute): string {
  return a.qname === 'xmlns' ? '' : a.qname.slice('xmlns:'.length);
}

/** Prefix → URI bindings in scope inside the last element of `path` (root first). */
function bindingsAt(path: readonly XmlElement[]): Map<string, string> {
  const bindings = new Map<string, string>();
  for (const el of path)
    for (const a of el.attrs.filter(isNamespaceDeclaration)) bindings.set(declaredPrefix(a), a.value);
  return bindings;
}

/** Adds every prefix the subtree binds or uses for a namespace other than `ns`. */
function collectConflicts(el: XmlElement, ns: string, into: Set<string>): void {
  const prefixOf = (qname: string): string => (qname.includes(':') ? qname.slice(0, qname.indexOf(':')) : '');
  if (el.ns !== ns) into.add(prefixOf(el.qname));
  for (const a of el.attrs) {
    if (isNamespaceDeclaration(a)) {
      if (a.value !== ns) into.add(declaredPrefix(a));
    } else if (a.qname.includes(':') && a.ns !== ns) into.add(prefixOf(a.qname));
  }
  for (const child of el.children) if (isElement(child)) collectConflicts(child, ns, into);
}

/** Declares a prefix for `ns` on the root, one the document binds nowhere to anything else, so nothing shadows it. */
function declareOnRoot(root: XmlElement, ns: string): string {
  const taken = new Set<string>(['', 'xml', 'xmlns']);
  collectConflicts(root, ns, taken);
  const base = PREFERRED_PREFIX[ns] ?? 'ns';
  let prefix = base;
  for (let i = 1; taken.has(prefix); i++) prefix = `${base}${i}`;
  root.attrs.push({ qname: `xmlns:${prefix}`, ns: NS.xmlns, local: prefix, value: ns });
  return prefix;
}

/** Prefix to use for `ns` inside `path`: one already bound there (a named one first), else a new one on the root. */
function prefixAt(path: readonly XmlElement[], ns: string): string {
  const bindings = bindingsAt(path);
  const preferred = PREFERRED_PREFIX[ns];
  if (preferred !== undefined && bindings.get(preferred) === ns) return preferred;
  for (const [prefix, uri] of bindings) if (prefix !== '' && uri === ns) return prefix;
  if (bindings.get('') === ns) return '';
  return declareOnRoot(path[0] as XmlElement, ns);
}

type Child = XmlElement | string;
type Make = (ns: string, local: string, attrs?: Record<string, string>, children?: Child[]) => XmlElement;

/** An element factory for new elements that will be inserted under the last element of `path`. */
function factoryAt(path: readonly XmlElement[]): Make {
  return (ns, local, attrs = {}, children = []) => {
    const prefix = prefixAt(path, ns);
    return {
      qname: prefix === '' ? local : `${prefix}:${local}`,
      ns,
      local,
      attrs: Object.entries(attrs).map(([name, value]) => ({ qname: name, ns: '', local: name, value })),
      children: children.map((c) => (typeof c === 'string' ? { text: c } : c)),
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw new BadRequestError(`${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

function deliveryDataList(root: XmlElement): XmlElement[] {
  const list = firstChild(root, NS.cpix, 'DeliveryDataList');
  return list ? childElements(list, NS.cpix, 'DeliveryData') : [];
}

/** The one DeliveryData element, undefined when there is none; more than one recipient is not supported. */
function singleDeliveryData(root: XmlElement): XmlElement | undefined {
  const all = deliveryDataList(root);
  if (all.length > 1) {
    throw new BadRequestError(
      `Encrypted CPIX responses are made for exactly one recipient; the request has ${all.length} cpix:DeliveryData elements`,
    );
  }
  return all[0];
}

function certificateDer(deliveryData: XmlElement): Buffer {
  const keyInfo = firstChild(deliveryData, NS.cpix, 'DeliveryKey');
  const x509Data = keyInfo && firstChild(keyInfo, NS.ds, 'X509Data');
  const certificate = x509Data && firstChild(x509Data, NS.ds, 'X509Certificate');
  if (!certificate) {
    throw new BadRequestError(
      'cpix:DeliveryData has no cpix:DeliveryKey/ds:X509Data/ds:X509Certificate; an encrypted response needs the recipient certificate',
    );
  }
  return decodeBase64(textOf(certificate), 'cpix:DeliveryKey/ds:X509Data/ds:X509Certificate');
}

/**
 * The recipient certificate (DER) of a request that asks for an encrypted response, or undefined for a
 * clear one. Matches on namespace URI and local name; takes the first certificate of ds:X509Data.
 */
export function findDeliveryCertificate(root: XmlElement): Buffer | undefined {
  const deliveryData = singleDeliveryData(root);
  return deliveryData && certificateDer(deliveryData);
}

// ---------------------------------------------------------------------------------------------
// Writing

function encryptedValue(make: Make, algorithm: string, cipherValue: Buffer): XmlElement {
  return make(NS.pskc, 'EncryptedValue', {}, [
    make(NS.enc, 'EncryptionMethod', { Algorithm: algorithm }),
    make(NS.enc, 'CipherData', {}, [make(NS.enc, 'CipherValue', {}, [cipherValue.toString('base64')])]),
  ]);
}

/** pskc:EncryptedValue followed by its pskc:ValueMAC. */
function encryptedPair(make: Make, algorithm: string, cipherValue: Buffer, macKey: Buffer): XmlElement[] {
  return [
    encryptedValue(make, algorithm, cipherValue),
    make(NS.pskc, 'ValueMAC', {}, [valueMac(macKey, cipherValue).toString('base64')]),
  ];
}

/** Attributes of an element being replaced, minus namespace declarations and those we set. */
function keptAttributes(existing: XmlElement | undefined, set: Record<string, string>): XmlAttribute[] {
  if (!existing) return [];
  return existing.attrs.filter((a) => !isNamespaceDeclaration(a) && !(a.ns === '' && a.local in set));
}

function documentKeyElement(make: Make, existing: XmlElement | undefined, wrapped: Buffer, macKey: Buffer): XmlElement {
  const algorithm = { Algorithm: ALGORITHMS.aes256Cbc };
  const el = make(NS.cpix, 'DocumentKey', algorithm, [
    make(NS.cpix, 'Data', {}, [
      make(NS.pskc, 'Secret', {}, encryptedPair(make, ALGORITHMS.rsaOaepMgf1p, wrapped, macKey)),
    ]),
  ]);
  el.attrs.unshift(...keptAttributes(existing, algorithm));
  return el;
}

function macMethodElement(make: Make, existing: XmlElement | undefined, wrapped: Buffer, macKey: Buffer): XmlElement {
  const algorithm = { Algorithm: ALGORITHMS.hmacSha512 };
  const el = make(NS.cpix, 'MACMethod', algorithm, [
    make(NS.cpix, 'Key', {}, encryptedPair(make, ALGORITHMS.rsaOaepMgf1p, wrapped, macKey)),
  ]);
  el.attrs.unshift(...keptAttributes(existing, algorithm));
  return el;
}

/** Puts DocumentKey and MACMethod right after DeliveryKey, replacing any already there (CPIX 2.3 sequence order). */
function placeDeliveryKeys(deliveryData: XmlElement, documentKey: XmlElement, macMethod: XmlElement): void {
  deliveryData.children = deliveryData.children.filter(
    (c) => !(isElement(c) && c.ns === NS.cpix && (c.local === 'DocumentKey' || c.local === 'MACMethod')),
  );
  const deliveryKey = firstChild(deliveryData, NS.cpix, 'DeliveryKey');
  const at = deliveryKey ? deliveryData.children.indexOf(deliveryKey) + 1 : 0;
  deliveryData.children.splice(at, 0, documentKey, macMethod);
}

function requireSameCertificate(deliveryData: XmlElement, cert: DeliveryCertificate): void {
  const sha256 = createHash('sha256').update(certificateDer(deliveryData)).digest('hex');
  if (sha256 !== normalizeFingerprint(cert.sha256)) {
    throw new Error('encryptDocument: the certificate given is not the one in the document cpix:DeliveryData');
  }
}

interface SecretAt {
  kid: string;
  path: XmlElement[];
  secret: XmlElement;
}

/** Every ContentKey/Data/Secret, with the path from the root down to the Secret. */
function contentKeySecrets(root: XmlElement): SecretAt[] {
  const out: SecretAt[] = [];
  for (const list of childElements(root, NS.cpix, 'ContentKeyList')) {
    for (const key of childElements(list, NS.cpix, 'ContentKey')) {
      for (const data of childElements(key, NS.cpix, 'Data')) {
        for (const secret of childElements(data, NS.pskc, 'Secret')) {
          out.push({ kid: attr(key, 'kid') ?? '(no kid)', path: [root, list, key, data, secret], secret });
        }
      }
    }
  }
  return out;
}

function countPlainValues(el: XmlElement): number {
  const self = el.ns === NS.pskc && el.local === 'PlainValue' ? 1 : 0;
  return el.children.reduce((n, c) => n + (isElement(c) ? countPlainValues(c) : 0), self);
}

/** Refuses documents with a PlainValue we would not encrypt, before anything is changed. */
function requireOnlyContentKeyPlainValues(root: XmlElement, secrets: SecretAt[]): void {
  const inContentKeys = secrets.reduce((n, s) => n + childElements(s.secret, NS.pskc, 'PlainValue').length, 0);
  if (countPlainValues(root) !== inContentKeys) {
    throw new BadRequestError(
      'The document has a pskc:PlainValue outside cpix:ContentKeyList/cpix:ContentKey/cpix:Data/pskc:Secret; ' +
        'an encrypted response cannot carry it',
    );
  }
  for (const s of secrets) {
    if (childElements(s.secret, NS.pskc, 'PlainValue').length > 1) {
      throw new BadRequestError(`ContentKey ${s.kid} has more than one pskc:PlainValue`);
    }
  }
}

/** Replaces Secret/PlainValue with Secret/EncryptedValue + ValueMAC (binaryDataType order), in place. */
function encryptSecret(s: SecretAt, keys: { documentKey: Buffer; macKey: Buffer }): void {
  const plain = firstChild(s.secret, NS.pskc, 'PlainValue');
  if (!plain) return;
  const key = decodeBase64(textOf(plain), `pskc:PlainValue of ContentKey ${s.kid}`);
  const pair = encryptedPair(factoryAt(s.path), ALGORITHMS.aes256Cbc, encryptValue(keys.documentKey, key), keys.macKey);
  const children = s.secret.children.filter((c) => !(isElement(c) && c.ns === NS.pskc && c.local === 'ValueMAC'));
  children.splice(children.indexOf(plain), 1, ...pair);
  s.secret.children = children;
}

/**
 * Encrypts a filled CPIX document in place for the recipient in its DeliveryData: adds DocumentKey and
 * MACMethod, and turns every content key PlainValue into EncryptedValue + ValueMAC. No PlainValue remains.
 */
export function encryptDocument(root: XmlElement, cert: DeliveryCertificate): void {
  const deliveryData = singleDeliveryData(root);
  if (!deliveryData) throw new BadRequestError('The request has no cpix:DeliveryData to encrypt the response for');
  requireSameCertificate(deliveryData, cert);
  const secrets = contentKeySecrets(root);
  requireOnlyContentKeyPlainValues(root, secrets);

  const keys = createDocumentKeys();
  const make = factoryAt([root, firstChild(root, NS.cpix, 'DeliveryDataList') as XmlElement, deliveryData]);
  const documentKey = documentKeyElement(
    make,
    firstChild(deliveryData, NS.cpix, 'DocumentKey'),
    wrapKey(cert.publicKey, keys.documentKey),
    keys.macKey,
  );
  const macMethod = macMethodElement(
    make,
    firstChild(deliveryData, NS.cpix, 'MACMethod'),
    wrapKey(cert.publicKey, keys.macKey),
    keys.macKey,
  );
  placeDeliveryKeys(deliveryData, documentKey, macMethod);
  for (const s of secrets) encryptSecret(s, keys);

  if (countPlainValues(root) !== 0) throw new Error('encryptDocument left a pskc:PlainValue in the document');
}

// ---------------------------------------------------------------------------------------------
// Decrypting (CLI and tests)

interface EncryptedField {
  algorithm: string | undefined;
  cipherValue: Buffer;
}

/** Reads xenc:EncryptionMethod@Algorithm and xenc:CipherData/xenc:CipherValue directly under `el`. */
function readXencFields(el: XmlElement, what: string): EncryptedField {
  const method = firstChild(el, NS.enc, 'EncryptionMethod');
  const cipherData = firstChild(el, NS.enc, 'CipherData');
  const cipherValue = cipherData && firstChild(cipherData, NS.enc, 'CipherValue');
  if (!cipherValue) throw new BadRequestError(`${what} has no xenc:CipherData/xenc:CipherValue`);
  return {
    algorithm: method && attr(method, 'Algorithm'),
    cipherValue: decodeBase64(textOf(cipherValue), `${what} xenc:CipherValue`),
  };
}

function requireAlgorithm(field: EncryptedField, expected: string, what: string): void {
  if (field.algorithm !== expected) {
    throw new BadRequestError(`${what} must use the encryption method ${expected}, not ${field.algorithm ?? 'none'}`);
  }
}

/** Checks the ValueMAC next to an encrypted value; `required` for content keys (DASH-IF), optional elsewhere. */
function checkValueMac(
  container: XmlElement,
  field: EncryptedField,
  macKey: Buffer,
  what: string,
  required: boolean,
): void {
  const macEl = firstChild(container, NS.pskc, 'ValueMAC');
  if (!macEl) {
    if (required) throw new BadRequestError(`${what} has no pskc:ValueMAC`);
    return;
  }
  const mac = decodeBase64(textOf(macEl), `${what} pskc:ValueMAC`);
  if (!verifyValueMac(macKey, field.cipherValue, mac)) {
    throw new BadRequestError(`${what}: pskc:ValueMAC does not match; the value was altered or the MAC key is wrong`);
  }
}

function publicKeyDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** SPKI DER of a DeliveryData's certificate key, or undefined when it has no readable certificate. */
function certificateKeyDer(deliveryData: XmlElement): Buffer | undefined {
  try {
    return publicKeyDer(new X509Certificate(certificateDer(deliveryData)).publicKey);
  } catch {
    return undefined;
  }
}

/** The DeliveryData whose certificate carries the public half of `privateKey`. */
function deliveryDataFor(root: XmlElement, privateKey: KeyObject): XmlElement {
  const all = deliveryDataList(root);
  if (all.length === 0) throw new BadRequestError('Not an encrypted CPIX document: it has no cpix:DeliveryData');
  const ours = publicKeyDer(createPublicKey(privateKey));
  const match = all.find((dd) => certificateKeyDer(dd)?.equals(ours) === true);
  if (!match) throw new BadRequestError('No cpix:DeliveryData in the document is addressed to this private key');
  return match;
}

/** The MAC key, from cpix:MACMethod/cpix:Key in AWS form (pskc:EncryptedValue inside) or DASH-IF form (xenc directly). */
function readMacKey(deliveryData: XmlElement, privateKey: KeyObject): Buffer {
  const method = firstChild(deliveryData, NS.cpix, 'MACMethod');
  if (!method) throw new BadRequestError('cpix:DeliveryData has no cpix:MACMethod; the ValueMACs cannot be checked');
  if (attr(method, 'Algorithm') !== ALGORITHMS.hmacSha512) {
    throw new BadRequestError(`cpix:MACMethod must use ${ALGORITHMS.hmacSha512}`);
  }
  const keyEl = firstChild(method, NS.cpix, 'Key') ?? firstChild(method, NS.pskc, 'MACKey');
  if (!keyEl) throw new BadRequestError('cpix:MACMethod has no cpix:Key');
  const wrapper = firstChild(keyEl, NS.pskc, 'EncryptedValue') ?? keyEl;
  const field = readXencFields(wrapper, 'cpix:MACMethod/cpix:Key');
  requireAlgorithm(field, ALGORITHMS.rsaOaepMgf1p, 'cpix:MACMethod/cpix:Key');
  const macKey = unwrapKey(privateKey, field.cipherValue);
  checkValueMac(keyEl, field, macKey, 'cpix:MACMethod/cpix:Key', false);
  return macKey;
}

function readDocumentKey(deliveryData: XmlElement, privateKey: KeyObject, macKey: Buffer): Buffer {
  const what = 'cpix:DocumentKey';
  const docKey = firstChild(deliveryData, NS.cpix, 'DocumentKey');
  if (!docKey) throw new BadRequestError('cpix:DeliveryData has no cpix:DocumentKey');
  const algorithm = attr(docKey, 'Algorithm');
  if (algorithm !== undefined && algorithm !== ALGORITHMS.aes256Cbc) {
    throw new BadRequestError(`${what} must be an ${ALGORITHMS.aes256Cbc} key, not ${algorithm}`);
  }
  const data = firstChild(docKey, NS.cpix, 'Data');
  const secret = data && firstChild(data, NS.pskc, 'Secret');
  const encrypted = secret && firstChild(secret, NS.pskc, 'EncryptedValue');
  if (!secret || !encrypted) throw new BadRequestError(`${what} has no cpix:Data/pskc:Secret/pskc:EncryptedValue`);
  const field = readXencFields(encrypted, what);
  requireAlgorithm(field, ALGORITHMS.rsaOaepMgf1p, what);
  checkValueMac(secret, field, macKey, what, false);
  const key = unwrapKey(privateKey, field.cipherValue);
  if (key.length !== DOCUMENT_KEY_BYTES) throw new BadRequestError(`${what} is not a ${DOCUMENT_KEY_BYTES}-byte key`);
  return key;
}

function decryptSecret(s: SecretAt, documentKey: Buffer, macKey: Buffer): Buffer | undefined {
  const what = `ContentKey ${s.kid}`;
  if (firstChild(s.secret, NS.pskc, 'PlainValue')) {
    throw new BadRequestError(`${what} carries a pskc:PlainValue in an encrypted document`);
  }
  const encrypted = firstChild(s.secret, NS.pskc, 'EncryptedValue');
  if (!encrypted) return undefined;
  const field = readXencFields(encrypted, what);
  requireAlgorithm(field, ALGORITHMS.aes256Cbc, what);
  checkValueMac(s.secret, field, macKey, what, true);
  return decryptValue(documentKey, field.cipherValue);
}

/**
 * Reverses `encryptDocument` with the recipient's private key, checking every ValueMAC before
 * decrypting: returns content keys by KID. Accepts both MAC key layouts (AWS and DASH-IF/Axinom).
 */
export function decryptDocument(root: XmlElement, privateKey: KeyObject): Map<string, Buffer> {
  const deliveryData = deliveryDataFor(root, privateKey);
  const macKey = readMacKey(deliveryData, privateKey);
  const documentKey = readDocumentKey(deliveryData, privateKey, macKey);
  const keys = new Map<string, Buffer>();
  for (const s of contentKeySecrets(root)) {
    const key = decryptSecret(s, documentKey, macKey);
    if (key) keys.set(s.kid, key);
  }
  return keys;
}
