/**
 * Seals a filled CPIX response tree for its recipient (DASH-IF CPIX 2.3 "Key Management", AWS SPEKE
 * "Content Key Encryption"): wraps a fresh document key and MAC key, encrypts every content key.
 * `decrypt-document.ts` reverses it. Layout written, as AWS documents it and its reference server emits it:
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
import { createHash } from 'node:crypto';
import { BadRequestError } from '../errors';
import { decodeBase64 } from './base64';
import { contentKeySecrets, type SecretAt } from './content-key-secrets';
import {
  certificateDer,
  normalizeFingerprint,
  singleDeliveryData,
  type DeliveryCertificate,
} from './delivery-certificate';
import { ALGORITHMS, createDocumentKeys, encryptValue, valueMac, wrapKey } from './document-crypto';
import { factoryAt, isNamespaceDeclaration, type Make } from './element-factory';
import { NS } from './namespaces';
import { childElements, firstChild, isElement, textOf, type XmlAttribute, type XmlElement } from './xml-tree';

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

function documentKeyElement(
  schema: CpixSchema,
  make: Make,
  existing: XmlElement | undefined,
  wrapped: Buffer,
  macKey: Buffer,
): XmlElement {
  // CPIX 2.4's DocumentKeyType has no Algorithm (AES-256-CBC is implied); 2.3's pskc KeyType has one.
  const algorithm: Record<string, string> = schema === '2.3' ? { Algorithm: ALGORITHMS.aes256Cbc } : {};
  const el = make(NS.cpix, 'DocumentKey', algorithm, [
    make(NS.cpix, 'Data', {}, [
      make(NS.pskc, 'Secret', {}, encryptedPair(make, ALGORITHMS.rsaOaepMgf1p, wrapped, macKey)),
    ]),
  ]);
  // A request's own DocumentKey@Algorithm is dropped too where the schema has none.
  const kept = keptAttributes(existing, algorithm).filter(
    (a) => schema === '2.3' || !(a.ns === '' && a.local === 'Algorithm'),
  );
  el.attrs.unshift(...kept);
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

/** The CPIX schema a document follows: 2.3 (SPEKE v1, v2.0, exports) or 2.4 (SPEKE v2.1). */
export type CpixSchema = '2.3' | '2.4';

/**
 * Encrypts a filled CPIX document in place for the recipient in its DeliveryData: adds DocumentKey and
 * MACMethod, and turns every content key PlainValue into EncryptedValue + ValueMAC. No PlainValue remains.
 */
export function encryptDocument(root: XmlElement, cert: DeliveryCertificate, schema: CpixSchema): void {
  const deliveryData = singleDeliveryData(root);
  if (!deliveryData) throw new BadRequestError('The request has no cpix:DeliveryData to encrypt the response for');
  requireSameCertificate(deliveryData, cert);
  const secrets = contentKeySecrets(root);
  requireOnlyContentKeyPlainValues(root, secrets);

  const keys = createDocumentKeys();
  const make = factoryAt([root, firstChild(root, NS.cpix, 'DeliveryDataList') as XmlElement, deliveryData]);
  const documentKey = documentKeyElement(
    schema,
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
