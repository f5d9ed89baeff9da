/**
 * Reads an encrypted CPIX document back (CLI and tests): finds the DeliveryData addressed to a private
 * key, unwraps the MAC and document keys, checks every ValueMAC and decrypts the content keys. The
 * reverse of `encrypt-document.ts`; accepts AWS's and DASH-IF's MAC key layouts.
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { BadRequestError } from '../errors';
import { decodeBase64 } from './base64';
import { contentKeySecrets, type SecretAt } from './content-key-secrets';
import { certificateDer, deliveryDataList } from './delivery-certificate';
import { ALGORITHMS, DOCUMENT_KEY_BYTES, decryptValue, unwrapKey, verifyValueMac } from './document-crypto';
import { NS } from './namespaces';
import { attr, firstChild, textOf, type XmlElement } from './xml-tree';

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
