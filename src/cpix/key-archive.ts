/**
 * Keys of one resource as a vendor-neutral CPIX 2.3 document (`keyplane export`/`import`,
 * `GET /exports/{resourceId}`, `POST /imports`): `cpix:CPIX@contentId` is the resource ID, one
 * `cpix:ContentKey` per key with its IV in `explicitIV`, the key in `pskc:Secret` — encrypted to a
 * recipient certificate exactly like an encrypted SPEKE response (`encrypt-document.ts`), or in the
 * clear. Reading accepts both forms, from any provider, within the XML limits of `xml-limits.ts`.
 */
import type { KeyObject } from 'node:crypto';
import { RESOURCE_ID_PATTERN, UUID_PATTERN } from '../domain/ids';
import { BadRequestError } from '../errors';
import { decodeBase64 } from './base64';
import { decryptDocument } from './decrypt-document';
import { deliveryDataList, type DeliveryCertificate } from './delivery-certificate';
import { encryptDocument } from './encrypt-document';
import { NS } from './namespaces';
import { CPIX_RESPONSE_LIMITS } from './xml-limits';
import { parseXml } from './xml-parse';
import { serializeXml } from './xml-serialize';
import { attr, childElements, firstChild, textOf, type XmlElement } from './xml-tree';

/** One content key of an archive: KID, 16-byte key and (optional on import) 16-byte IV. */
export interface ArchivedKey {
  kid: string;
  key: Buffer;
  iv?: Buffer;
}

/** What an archive document holds: the resource (its contentId) and its keys. */
export interface KeyArchive {
  resourceId: string;
  keys: ArchivedKey[];
}

/** The recipient of an encrypted export: its certificate, vetted, and the DER that goes in the document. */
export interface ArchiveRecipient {
  der: Buffer;
  certificate: DeliveryCertificate;
}

const el = (
  ns: string,
  qname: string,
  attrs: Record<string, string>,
  children: Array<XmlElement | string>,
): XmlElement => ({
  qname,
  ns,
  local: qname.slice(qname.indexOf(':') + 1),
  attrs: Object.entries(attrs).map(([name, value]) => ({ qname: name, ns: '', local: name, value })),
  children: children.map((c) => (typeof c === 'string' ? { text: c } : c)),
});

const xmlns = (prefix: string, uri: string) => ({ qname: `xmlns:${prefix}`, ns: NS.xmlns, local: prefix, value: uri });

/** Builds the export document of one resource; encrypted to `recipient`, else (plaintext export) in the clear. */
export function buildKeyArchive(archive: KeyArchive, recipient?: ArchiveRecipient): string {
  const contentKeys = archive.keys.map((k) =>
    el(NS.cpix, 'cpix:ContentKey', { kid: k.kid, ...(k.iv ? { explicitIV: k.iv.toString('base64') } : {}) }, [
      el(NS.cpix, 'cpix:Data', {}, [
        el(NS.pskc, 'pskc:Secret', {}, [el(NS.pskc, 'pskc:PlainValue', {}, [k.key.toString('base64')])]),
      ]),
    ]),
  );
  const children: XmlElement[] = [];
  if (recipient) {
    const cert = el(NS.ds, 'ds:X509Certificate', {}, [recipient.der.toString('base64')]);
    const deliveryKey = el(NS.cpix, 'cpix:DeliveryKey', {}, [el(NS.ds, 'ds:X509Data', {}, [cert])]);
    children.push(el(NS.cpix, 'cpix:DeliveryDataList', {}, [el(NS.cpix, 'cpix:DeliveryData', {}, [deliveryKey])]));
  }
  children.push(el(NS.cpix, 'cpix:ContentKeyList', {}, contentKeys));
  const root = el(NS.cpix, 'cpix:CPIX', { contentId: archive.resourceId, version: '2.3' }, children);
  root.attrs.unshift(xmlns('cpix', NS.cpix), xmlns('pskc', NS.pskc), xmlns('ds', NS.ds), xmlns('enc', NS.enc));
  if (recipient) encryptDocument(root, recipient.certificate, '2.3');
  return serializeXml(root);
}

function sixteenBytes(value: Buffer, what: string): Buffer {
  if (value.length !== 16) throw new BadRequestError(`${what} is ${value.length} bytes; content keys and IVs are 16`);
  return value;
}

function plainKeys(root: XmlElement): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const list of childElements(root, NS.cpix, 'ContentKeyList')) {
    for (const ck of childElements(list, NS.cpix, 'ContentKey')) {
      const data = firstChild(ck, NS.cpix, 'Data');
      const secret = data && firstChild(data, NS.pskc, 'Secret');
      const plain = secret && firstChild(secret, NS.pskc, 'PlainValue');
      if (plain)
        keys.set(
          attr(ck, 'kid') ?? '',
          decodeBase64(textOf(plain), `pskc:PlainValue of ContentKey ${attr(ck, 'kid')}`),
        );
    }
  }
  return keys;
}

/**
 * Reads an archive (or any CPIX document with content keys): plain, or encrypted to `privateKey`'s
 * certificate (every ValueMAC checked). Every ContentKey must carry a UUID KID and a 16-byte key;
 * `resourceId` overrides `contentId`. 400 naming what is wrong; 413 past the XML limits.
 */
export function readKeyArchive(xml: string, opts: { privateKey?: KeyObject; resourceId?: string } = {}): KeyArchive {
  const root = parseXml(xml, CPIX_RESPONSE_LIMITS);
  if (root.ns !== NS.cpix || root.local !== 'CPIX')
    throw new BadRequestError('Not a CPIX document: the root is not cpix:CPIX');
  const resourceId = opts.resourceId ?? attr(root, 'contentId');
  if (resourceId === undefined)
    throw new BadRequestError('cpix:CPIX has no contentId; name the resource the keys belong to');
  if (!RESOURCE_ID_PATTERN.test(resourceId))
    throw new BadRequestError(`contentId "${resourceId}" is not a valid resource ID`);
  let values: Map<string, Buffer>;
  if (deliveryDataList(root).length > 0) {
    if (!opts.privateKey)
      throw new BadRequestError('The document is encrypted (cpix:DeliveryData); the private key is needed');
    values = decryptDocument(root, opts.privateKey);
  } else values = plainKeys(root);
  const keys: ArchivedKey[] = [];
  const seen = new Set<string>();
  for (const list of childElements(root, NS.cpix, 'ContentKeyList')) {
    for (const ck of childElements(list, NS.cpix, 'ContentKey')) {
      const kid = attr(ck, 'kid') ?? '';
      if (!UUID_PATTERN.test(kid)) throw new BadRequestError(`ContentKey@kid "${kid}" is not a UUID`);
      if (seen.has(kid.toLowerCase())) throw new BadRequestError(`ContentKey ${kid} appears twice`);
      seen.add(kid.toLowerCase());
      const value = values.get(kid);
      if (!value) throw new BadRequestError(`ContentKey ${kid} carries no key value`);
      const ivText = attr(ck, 'explicitIV');
      const iv =
        ivText === undefined
          ? undefined
          : sixteenBytes(decodeBase64(ivText, `ContentKey ${kid}@explicitIV`), `ContentKey ${kid}@explicitIV`);
      keys.push({ kid: kid.toLowerCase(), key: sixteenBytes(value, `ContentKey ${kid}`), ...(iv ? { iv } : {}) });
    }
  }
  if (keys.length === 0) throw new BadRequestError('The document has no cpix:ContentKey');
  return { resourceId, keys };
}
