/**
 * Reads a filled CPIX response the way an encoder would: content keys (decrypting an encrypted
 * document with the recipient's private key, every ValueMAC checked), IVs, and each DRM system's
 * signalling decoded from base64. Pure: no I/O.
 */
import type { KeyObject } from 'node:crypto';
import { decryptDocument } from '../cpix/decrypt-document';
import { NS } from '../cpix/namespaces';
import { CPIX_RESPONSE_LIMITS, XmlLimitError, XmlTooLargeError } from '../cpix/xml-limits';
import { parseXml } from '../cpix/xml-parse';
import { attr, childElements, firstChild, isElement, textOf, type XmlElement } from '../cpix/xml-tree';
import type { DrmSignalling } from '../drm/drm-system';
import { bytesToUuid } from '../drm/pssh';
import { InvalidResponseError } from './cli-errors';
import { drmBySystemId, type DrmInfo } from './drm-names';

/** One content key as the response gives it. */
export interface ResponseKey {
  kid: string;
  /** 16 bytes, when the response carried it in clear or it could be decrypted. */
  key?: Buffer;
  iv?: Buffer;
  /** The response carried this key encrypted (pskc:EncryptedValue). */
  encrypted: boolean;
}

/** One DRMSystem's signalling, decoded: the fields Keyplane's DRM modules write, read back. */
export interface ResponseDrm extends Omit<DrmSignalling, 'hlsSignaling'> {
  kid: string;
  systemId: string;
  drm?: DrmInfo;
  hlsMedia?: string;
  hlsMaster?: string;
}

/** A parsed response document. */
export interface CpixResponse {
  root: XmlElement;
  keys: ResponseKey[];
  drmSystems: ResponseDrm[];
  /** The document carries a DocumentKey or encrypted content keys. */
  encrypted: boolean;
}

/** A parsed ISO BMFF pssh box. */
interface PsshBox {
  version: number;
  systemId: string;
  kids: string[];
  data: Buffer;
}

/** Parses a complete `pssh` box; throws a message saying what is wrong with it. */
export function parsePsshBox(box: Buffer): PsshBox {
  if (box.length < 32) throw new Error(`a pssh box is at least 32 bytes, got ${box.length}`);
  if (box.readUInt32BE(0) !== box.length)
    throw new Error(`pssh box size field ${box.readUInt32BE(0)} ≠ ${box.length} bytes`);
  if (box.toString('latin1', 4, 8) !== 'pssh')
    throw new Error(`box type is "${box.toString('latin1', 4, 8)}", not "pssh"`);
  const version = box.readUInt8(8);
  const systemId = bytesToUuid(box.subarray(12, 28));
  let at = 28;
  const kids: string[] = [];
  if (version === 1) {
    const count = box.readUInt32BE(at);
    at += 4;
    if (box.length < at + count * 16 + 4) throw new Error(`pssh box too short for ${count} KIDs`);
    for (let i = 0; i < count; i++, at += 16) kids.push(bytesToUuid(box.subarray(at, at + 16)));
  } else if (version !== 0) {
    throw new Error(`pssh box version ${version} (only 0 and 1 exist)`);
  }
  const dataSize = box.readUInt32BE(at);
  if (at + 4 + dataSize !== box.length) throw new Error(`pssh DataSize ${dataSize} does not match the box size`);
  return { version, systemId, kids, data: box.subarray(at + 4) };
}

/** The `URI="..."` attribute of an `#EXT-X-KEY` / `#EXT-X-SESSION-KEY` line. */
export function hlsUri(line: string | undefined): string | undefined {
  return line === undefined ? undefined : /URI="([^"]*)"/.exec(line)?.[1];
}

/** Decoded base64 text of an element, undefined when the element is absent or empty. */
function base64Child(parent: XmlElement, ns: string, local: string): Buffer | undefined {
  const el = firstChild(parent, ns, local);
  const text = el ? textOf(el).replace(/\s+/g, '') : '';
  return text === '' ? undefined : Buffer.from(text, 'base64');
}

function hlsSignaling(drm: XmlElement, playlist: string): string | undefined {
  const el = childElements(drm, NS.cpix, 'HLSSignalingData').find((e) => (attr(e, 'playlist') ?? 'media') === playlist);
  const text = el ? textOf(el).replace(/\s+/g, '') : '';
  return text === '' ? undefined : Buffer.from(text, 'base64').toString('utf8');
}

function readDrm(el: XmlElement): ResponseDrm {
  const systemId = (attr(el, 'systemId') ?? '').toLowerCase();
  const utf8 = (ns: string, local: string) => base64Child(el, ns, local)?.toString('utf8');
  return {
    kid: (attr(el, 'kid') ?? '').toLowerCase(),
    systemId,
    drm: drmBySystemId(systemId),
    uriExtXKey: utf8(NS.cpix, 'URIExtXKey'),
    keyFormat: utf8(NS.speke, 'KeyFormat'),
    keyFormatVersions: utf8(NS.speke, 'KeyFormatVersions'),
    pssh: base64Child(el, NS.cpix, 'PSSH'),
    protectionHeader: base64Child(el, NS.speke, 'ProtectionHeader'),
    contentProtectionData: utf8(NS.cpix, 'ContentProtectionData'),
    hlsMedia: hlsSignaling(el, 'media'),
    hlsMaster: hlsSignaling(el, 'master'),
  };
}

function descendants(el: XmlElement, ns: string, local: string): XmlElement[] {
  const own = el.ns === ns && el.local === local ? [el] : [];
  return [...own, ...el.children.filter(isElement).flatMap((c) => descendants(c, ns, local))];
}

function contentKeyElements(root: XmlElement): XmlElement[] {
  return childElements(root, NS.cpix, 'ContentKeyList').flatMap((l) => childElements(l, NS.cpix, 'ContentKey'));
}

function readKey(el: XmlElement, decrypted: Map<string, Buffer> | undefined): ResponseKey {
  const kid = (attr(el, 'kid') ?? '').toLowerCase();
  const plain = descendants(el, NS.pskc, 'PlainValue')[0];
  const encrypted = descendants(el, NS.pskc, 'EncryptedValue').length > 0;
  const ivText = attr(el, 'explicitIV');
  const key = plain ? Buffer.from(textOf(plain).replace(/\s+/g, ''), 'base64') : decrypted?.get(kid);
  return { kid, key, iv: ivText === undefined ? undefined : Buffer.from(ivText, 'base64'), encrypted };
}

function isEncrypted(root: XmlElement): boolean {
  return (
    descendants(root, NS.cpix, 'DocumentKey').length > 0 || descendants(root, NS.pskc, 'EncryptedValue').length > 0
  );
}

function decryptedKeys(root: XmlElement, privateKey: KeyObject): Map<string, Buffer> {
  try {
    const byKid = decryptDocument(root, privateKey);
    return new Map([...byKid].map(([kid, key]) => [kid.toLowerCase(), key]));
  } catch (err) {
    throw new InvalidResponseError(`cannot decrypt the encrypted response: ${(err as Error).message}`);
  }
}

/**
 * Parses an XML document within the response limits (CPIX_RESPONSE_LIMITS: a server, or whatever
 * answers in its place, cannot make the CLI spend unbounded time or memory), turning parser errors
 * into InvalidResponseError.
 */
export function parseResponseXml(xml: string): XmlElement {
  try {
    return parseXml(xml, CPIX_RESPONSE_LIMITS);
  } catch (err) {
    const over = err instanceof XmlLimitError || err instanceof XmlTooLargeError;
    const what = over ? `is over a limit of what the CLI reads (${err.limit})` : 'is not a readable XML document';
    throw new InvalidResponseError(`the response ${what}: ${(err as Error).message}`);
  }
}

/** Reads keys and signalling from a response; with `privateKey`, decrypts an encrypted one (MACs checked). */
export function readCpixResponse(xml: string, privateKey?: KeyObject): CpixResponse {
  const root = parseResponseXml(xml);
  if (root.ns !== NS.cpix || root.local !== 'CPIX') {
    throw new InvalidResponseError(`the response root is ${root.qname}, not cpix:CPIX`);
  }
  const encrypted = isEncrypted(root);
  const decrypted = encrypted && privateKey ? decryptedKeys(root, privateKey) : undefined;
  const drmSystems = childElements(root, NS.cpix, 'DRMSystemList').flatMap((l) =>
    childElements(l, NS.cpix, 'DRMSystem'),
  );
  return {
    root,
    keys: contentKeyElements(root).map((el) => readKey(el, decrypted)),
    drmSystems: drmSystems.map(readDrm),
    encrypted,
  };
}
