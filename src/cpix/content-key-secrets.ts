import { NS } from './namespaces';
import { attr, childElements, type XmlElement } from './xml-tree';

/** A content key's `pskc:Secret`, with the path from the root down to it (for namespace scoping). */
export interface SecretAt {
  kid: string;
  path: XmlElement[];
  secret: XmlElement;
}

/**
 * Every `cpix:ContentKeyList/cpix:ContentKey/cpix:Data/pskc:Secret` of a document: where the
 * encryption of a response puts the sealed keys, and where the decryption reads them back.
 */
export function contentKeySecrets(root: XmlElement): SecretAt[] {
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
