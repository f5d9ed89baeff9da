/** Namespace URIs CPIX documents use; elements are matched on URI + local name, never on prefix. */
export const NS = {
  cpix: 'urn:dashif:org:cpix',
  pskc: 'urn:ietf:params:xml:ns:keyprov:pskc',
  speke: 'urn:aws:amazon:com:speke',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  enc: 'http://www.w3.org/2001/04/xmlenc#',
  xmlns: 'http://www.w3.org/2000/xmlns/',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;
