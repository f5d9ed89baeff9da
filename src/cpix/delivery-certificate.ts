/**
 * The encoder's delivery certificate: finding it in a request (`cpix:DeliveryData`) and vetting it as
 * the recipient of an encrypted response (RSA of at least 2048 bits, valid now, on the allow-list).
 * The parser reads it; the response encryption (`encrypt-document.ts`) uses what this vetted.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { BadRequestError } from '../errors';
import { decodeBase64 } from './base64';
import { NS } from './namespaces';
import { childElements, firstChild, textOf, type ReadonlyXmlElement, type XmlElement } from './xml-tree';

/** Smallest RSA modulus accepted for a delivery certificate (AWS SPEKE requires 2048-bit RSA). */
const MIN_RSA_BITS = 2048;

/** The recipient of an encrypted response, as read from its X.509 delivery certificate. */
export interface DeliveryCertificate {
  /** RSA public key that wraps the document and MAC keys. */
  publicKey: KeyObject;
  /** SHA-256 fingerprint of the DER certificate: 64 lowercase hex digits, no colons. */
  sha256: string;
  /** Subject distinguished name, for logs and error messages. */
  subject: string;
  /** End of the validity period. */
  notAfter: Date;
}

// ---------------------------------------------------------------------------------------------
// Finding it in the document

/** Every `cpix:DeliveryDataList/cpix:DeliveryData` of a document. */
export function deliveryDataList(root: XmlElement): XmlElement[];
export function deliveryDataList(root: ReadonlyXmlElement): ReadonlyXmlElement[];
export function deliveryDataList(root: ReadonlyXmlElement): ReadonlyXmlElement[] {
  // A second list must not hide the recipient: reading only the first would answer in plaintext.
  const lists = childElements(root, NS.cpix, 'DeliveryDataList');
  if (lists.length > 1) throw new BadRequestError('cpix:DeliveryDataList appears more than once');
  return lists[0] ? childElements(lists[0], NS.cpix, 'DeliveryData') : [];
}

/** The one DeliveryData element, undefined when there is none; more than one recipient is not supported. */
export function singleDeliveryData(root: XmlElement): XmlElement | undefined;
export function singleDeliveryData(root: ReadonlyXmlElement): ReadonlyXmlElement | undefined;
export function singleDeliveryData(root: ReadonlyXmlElement): ReadonlyXmlElement | undefined {
  const all = deliveryDataList(root);
  if (all.length > 1) {
    throw new BadRequestError(
      `Encrypted CPIX responses are made for exactly one recipient; the request has ${all.length} cpix:DeliveryData elements`,
    );
  }
  return all[0];
}

/** The DER of a DeliveryData's `cpix:DeliveryKey/ds:X509Data/ds:X509Certificate` (the first one). */
export function certificateDer(deliveryData: ReadonlyXmlElement): Buffer {
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
export function findDeliveryCertificate(root: ReadonlyXmlElement): Buffer | undefined {
  const deliveryData = singleDeliveryData(root);
  return deliveryData && certificateDer(deliveryData);
}

// ---------------------------------------------------------------------------------------------
// Vetting it

/** Normalises a SHA-256 fingerprint (any case, with or without colons or spaces) to lowercase hex. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[:\s]/g, '').toLowerCase();
}

/** Where a SPEKE request carries the recipient's certificate; the default `source` of the messages. */
const IN_CPIX = 'cpix:DeliveryKey/ds:X509Data/ds:X509Certificate';

function loadCertificate(der: Buffer, source: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new BadRequestError(`The delivery certificate (${source}) is not a parsable X.509 DER certificate`);
  }
}

function requireRsaKey(publicKey: KeyObject): void {
  const type = publicKey.asymmetricKeyType;
  if (type !== 'rsa') {
    throw new BadRequestError(
      `The delivery certificate must carry an RSA public key (RSA-OAEP wraps the document key); it carries ${type ?? 'an unknown key type'}`,
    );
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new BadRequestError(
      `The delivery certificate's RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`,
    );
  }
}

function certificateDate(value: string, what: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new BadRequestError(`The delivery certificate has an unreadable ${what} date`);
  return date;
}

function requireValidAt(cert: X509Certificate, now: Date): Date {
  const notBefore = certificateDate(cert.validFrom, 'notBefore');
  const notAfter = certificateDate(cert.validTo, 'notAfter');
  if (now.getTime() < notBefore.getTime()) {
    throw new BadRequestError(
      `The delivery certificate is not valid yet: its validity starts ${notBefore.toISOString()}`,
    );
  }
  if (now.getTime() > notAfter.getTime()) {
    throw new BadRequestError(`The delivery certificate expired on ${notAfter.toISOString()}`);
  }
  return notAfter;
}

function requireAllowed(sha256: string, allowedSha256: readonly string[] | undefined): void {
  if (allowedSha256 === undefined) return;
  if (!allowedSha256.map(normalizeFingerprint).includes(sha256)) {
    throw new BadRequestError(
      `The delivery certificate (SHA-256 fingerprint ${sha256}) is not on this key provider's list of allowed delivery certificates`,
      { deliveryCertSha256: sha256 },
    );
  }
}

/**
 * Reads and vets the recipient's delivery certificate: it must parse, carry an RSA key of at least
 * 2048 bits, be valid at `now` and, when an allow-list is given (an empty list allows nothing), be on it.
 * `source` names where it came from in the refusal (an element of the CPIX document, or a header).
 */
export function parseDeliveryCertificate(
  der: Buffer,
  now: Date,
  allowedSha256?: readonly string[],
  source = IN_CPIX,
): DeliveryCertificate {
  const cert = loadCertificate(der, source);
  const publicKey = cert.publicKey;
  requireRsaKey(publicKey);
  const notAfter = requireValidAt(cert, now);
  const sha256 = normalizeFingerprint(cert.fingerprint256);
  requireAllowed(sha256, allowedSha256);
  return { publicKey, sha256, subject: cert.subject, notAfter };
}
