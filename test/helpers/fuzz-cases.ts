import crypto from 'node:crypto';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { SYSTEM_IDS } from '../../src/drm/drm-system';
import { fixture, fixtureNames } from './fixtures';

/** Which credential a fuzz case presents; the harness maps it to a real API key. */
export type AuthChoice = 'encoder' | 'keyserver' | 'admin' | 'none' | 'unknown-key' | 'malformed';

/** The family a fuzz case comes from, for the per-family figures. */
export type FuzzKind = 'random-body' | 'mutated-body' | 'generated-cpix' | 'headers' | 'path';

/** One generated HTTP request, before credentials are filled in. */
export interface FuzzCase {
  kind: FuzzKind;
  method: string;
  path: string;
  auth: AuthChoice;
  headers: Record<string, string>;
  body?: Buffer;
}

const VALID_DOCS = fixtureNames('v1').map((n) => fixture(`v1/${n}`));
const REJECTED_DOCS = fixtureNames('v1/rejected').map((n) => fixture(`v1/rejected/${n}`));

/** A few KIDs and resource IDs shared by many cases, so cases collide (409s, KID bindings). */
const KID_POOL = Array.from({ length: 6 }, (_, i) => `00000000-f022-4000-8000-${String(i).padStart(12, '0')}`);
const RESOURCE_POOL = ['shared-movie', 'shared-live', 'MovieNight20171126093045'];

const TOKENS = [
  '<',
  '>',
  '&',
  '&amp;',
  '&lt;',
  '&#0;',
  '&#x110000;',
  '&#xD800;',
  '&#65;',
  '&undefined;',
  ']]>',
  '<![CDATA[<x>]]>',
  '<!--',
  '-->',
  '<?xml version="1.0"?>',
  '<?pi x?>',
  '<!DOCTYPE x>',
  '<!ENTITY e "x">',
  'xmlns="urn:dashif:org:cpix"',
  'xmlns:cpix="urn:other"',
  'xmlns:cpix=""',
  'cpix:',
  'speke:',
  'pskc:',
  '"',
  "'",
  '=',
  '/',
  '/>',
  '</cpix:CPIX>',
  '<cpix:ContentKey kid="00000000-f022-4000-8000-000000000001"/>',
  `<cpix:DRMSystem kid="00000000-f022-4000-8000-000000000001" systemId="${SYSTEM_IDS.widevine}"><cpix:PSSH/></cpix:DRMSystem>`,
  '<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="p" index="1"/></cpix:ContentKeyPeriodList>',
  '\u0000',
  '\u0001',
  '\uFFFE',
  '\uD800',
  'é',
  '\u{1F511}',
  ' '.repeat(1000),
  'A'.repeat(5000),
  '0'.repeat(300),
  '-1',
  '99999999999999999999',
  'NaN',
  'cenc',
  'cbcs',
  'xxxx',
  'OFj2IjCsPJFfMAxmQxLGPw==',
  '====',
  ...Object.values(SYSTEM_IDS),
  ...KID_POOL,
  ...RESOURCE_POOL,
];

const ELEMENT_NAMES = [
  'cpix:CPIX',
  'cpix:ContentKey',
  'cpix:ContentKeyList',
  'cpix:DRMSystem',
  'cpix:DRMSystemList',
  'cpix:ContentKeyPeriod',
  'cpix:ContentKeyPeriodList',
  'cpix:ContentKeyUsageRule',
  'cpix:KeyPeriodFilter',
  'cpix:URIExtXKey',
  'cpix:PSSH',
  'cpix:HLSSignalingData',
  'speke:KeyFormat',
  'speke:ProtectionHeader',
  'pskc:Secret',
  'other:Thing',
  'x',
];

/** A string a fuzzer likes: a dangerous token, a UUID, or arbitrary text. */
const token: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...TOKENS) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

type Mutation =
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'attr'; index: number; text: string }
  | { op: 'name'; index: number; name: string }
  | { op: 'fresh-ids'; salt: number }
  | { op: 'byte'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: token }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 400 }) }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('attr' as const), index: fc.nat(), text: token }) },
  fc.record({ op: fc.constant('name' as const), index: fc.nat(), name: fc.constantFrom(...ELEMENT_NAMES) }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fresh-ids' as const), salt: fc.nat() }) },
  fc.record({ op: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

/** A UUID derived from a salt and a value, so a replayed case produces the same document. */
function derivedUuid(salt: number, value: string): string {
  const h = crypto.createHash('sha256').update(`${salt}:${value}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function replaceNth(text: string, pattern: RegExp, index: number, replace: (match: string) => string): string {
  const matches = [...text.matchAll(pattern)];
  const m = matches.length > 0 ? matches[index % matches.length] : undefined;
  if (!m || m.index === undefined) return text;
  return text.slice(0, m.index) + replace(m[0]) + text.slice(m.index + m[0].length);
}

function mutateText(doc: string, m: Mutation): string {
  const at = 'at' in m ? m.at % (doc.length + 1) : 0;
  switch (m.op) {
    case 'insert':
      return doc.slice(0, at) + m.text + doc.slice(at);
    case 'delete':
      return doc.slice(0, at) + doc.slice(at + m.length);
    case 'duplicate':
      return doc.slice(0, at + m.length) + doc.slice(at, at + m.length) + doc.slice(at + m.length);
    case 'attr':
      return replaceNth(doc, /="[^"]*"/g, m.index, () => `="${m.text}"`);
    case 'name':
      return replaceNth(doc, /(?<=<\/?)[\w:.-]+/g, m.index, () => m.name);
    case 'fresh-ids':
      return doc
        .replace(/\bkid="([^"]*)"/g, (_all, kid: string) => `kid="${derivedUuid(m.salt, kid)}"`)
        .replace(/(<cpix:CPIX\b[^>]*?\bid=")[^"]*"/, (_all, head: string) => `${head}fz-${m.salt}"`);
    case 'byte':
      return doc;
  }
}

/** Applies text mutations in order, then raw byte writes (which may break UTF-8). */
function applyMutations(doc: string, mutations: Mutation[]): Buffer {
  const text = mutations.reduce(mutateText, doc);
  const bytes = Buffer.from(text, 'utf8');
  for (const m of mutations) {
    if (m.op === 'byte' && bytes.length > 0) bytes[m.at % bytes.length] = m.value;
  }
  return bytes;
}

/** Valid and rejected fixture documents with 1-6 mutations each. */
export const mutatedBody: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VALID_DOCS) }, fc.constantFrom(...REJECTED_DOCS)),
    fc.array(mutation, { minLength: 1, maxLength: 6 }),
  )
  .map(([doc, mutations]) => applyMutations(doc, mutations));

/** Unstructured bodies: bytes, text, and token soup. */
export const randomBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 500 }).map((s) => Buffer.from(s, 'utf8')),
  fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s, 'utf8')),
  fc.array(token, { maxLength: 60 }).map((parts) => Buffer.from(parts.join(''), 'utf8')),
);

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const attrOf = (name: string, value: string | undefined) =>
  value === undefined ? '' : ` ${name}="${escapeAttr(value)}"`;

// Each part is valid most of the time, so that whole documents are often accepted (200, 409) and
// reach key issuance and every DRM module, not only the parser's first check.
/** `value` once in `every` cases, else undefined. */
const sometimes = <T>(value: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: Math.round((every - 1) * 4), arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: value });

const kidValue = fc.oneof(
  { weight: 30, arbitrary: fc.uuid() },
  { weight: 8, arbitrary: fc.constantFrom(...KID_POOL) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const resourceIdValue = fc.oneof(
  { weight: 24, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,40}$/) },
  { weight: 8, arbitrary: fc.constantFrom(...RESOURCE_POOL) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
);
const ivValue = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')),
  },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const DRM_CHILDREN = [
  '<cpix:URIExtXKey/>',
  '<speke:KeyFormat/>',
  '<speke:KeyFormatVersions/>',
  '<speke:ProtectionHeader/>',
  '<cpix:PSSH/>',
  '<cpix:ContentProtectionData/>',
  '<cpix:HLSSignalingData/>',
  '<cpix:HLSSignalingData playlist="media"/>',
  '<cpix:SmoothStreamingProtectionHeaderData/>',
];

const contentKey = fc.record({
  kid: kidValue,
  explicitIV: sometimes(ivValue, 3),
  commonEncryptionScheme: sometimes(
    fc.oneof({ weight: 12, arbitrary: fc.constantFrom('cenc', 'cbcs', 'cbc1', 'cens') }, fc.string({ maxLength: 6 })),
    2,
  ),
});
const drmSystem = fc.record({
  keyIndex: fc.nat(),
  otherKid: sometimes(kidValue, 30),
  systemId: fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom(...Object.values(SYSTEM_IDS)) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  ),
  children: fc.subarray(DRM_CHILDREN),
});
const period = fc.record({
  id: fc.oneof({ weight: 12, arbitrary: fc.stringMatching(/^p[0-9]{1,6}$/) }, fc.string({ maxLength: 20 })),
  index: sometimes(fc.oneof({ weight: 12, arbitrary: fc.nat().map(String) }, fc.string({ maxLength: 20 })), 1.25),
});

/** Structurally plausible CPIX documents built from parts: the path to 200s, conflicts and DRM signalling. */
export const generatedCpix: fc.Arbitrary<Buffer> = fc
  .record({
    resourceId: resourceIdValue,
    keys: fc.oneof(
      { weight: 20, arbitrary: fc.array(contentKey, { minLength: 1, maxLength: 4 }) },
      fc.array(contentKey, { maxLength: 0 }),
    ),
    drm: fc.array(drmSystem, { maxLength: 6 }),
    periods: fc.oneof(
      { weight: 3, arbitrary: fc.array(period, { maxLength: 0 }) },
      fc.uniqueArray(period, { maxLength: 3, selector: (p) => p.id }),
    ),
    rulePeriod: sometimes(fc.nat(), 2),
    delivery: sometimes(fc.oneof(fc.base64String({ maxLength: 200 }), fc.string({ maxLength: 40 })), 10),
  })
  .map((d) => {
    const kidAt = (i: number) => d.keys[i % Math.max(1, d.keys.length)]?.kid ?? KID_POOL[0];
    const keys = d.keys
      .map(
        (k) =>
          `<cpix:ContentKey${attrOf('kid', k.kid)}${attrOf('explicitIV', k.explicitIV)}` +
          `${attrOf('commonEncryptionScheme', k.commonEncryptionScheme)}/>`,
      )
      .join('');
    const drm = d.drm
      .map(
        (s) =>
          `<cpix:DRMSystem${attrOf('kid', s.otherKid ?? kidAt(s.keyIndex))}${attrOf('systemId', s.systemId)}>` +
          `${s.children.join('')}</cpix:DRMSystem>`,
      )
      .join('');
    const periods = d.periods.map((p) => `<cpix:ContentKeyPeriod${attrOf('id', p.id)}${attrOf('index', p.index)}/>`);
    const ruleTarget = d.rulePeriod === undefined ? undefined : d.periods[d.rulePeriod % Math.max(1, d.periods.length)];
    const rules = ruleTarget
      ? d.keys.map(
          (k) =>
            `<cpix:ContentKeyUsageRule${attrOf('kid', k.kid)}><cpix:KeyPeriodFilter${attrOf('periodId', ruleTarget.id)}/>` +
            '</cpix:ContentKeyUsageRule>',
        )
      : [];
    const delivery =
      d.delivery === undefined
        ? ''
        : '<cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey><ds:X509Data><ds:X509Certificate>' +
          `${escapeAttr(d.delivery)}</ds:X509Certificate></ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList>`;
    return Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><cpix:CPIX${attrOf('id', d.resourceId)} xmlns:cpix="urn:dashif:org:cpix" ` +
        'xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:speke="urn:aws:amazon:com:speke" ' +
        `xmlns:ds="http://www.w3.org/2000/09/xmldsig#">${delivery}<cpix:ContentKeyList>${keys}</cpix:ContentKeyList>` +
        `<cpix:DRMSystemList>${drm}</cpix:DRMSystemList>` +
        (periods.length ? `<cpix:ContentKeyPeriodList>${periods.join('')}</cpix:ContentKeyPeriodList>` : '') +
        (rules.length ? `<cpix:ContentKeyUsageRuleList>${rules.join('')}</cpix:ContentKeyUsageRuleList>` : '') +
        '</cpix:CPIX>',
      'utf8',
    );
  });

/** Header values Node's client accepts: visible ASCII and tabs. */
const headerValue = fc.string({ unit: 'binary-ascii', maxLength: 120 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, ''));
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'expect',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
]);
const headerName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,24}$/)
  .filter((n) => !FORBIDDEN_HEADERS.has(n) && !n.startsWith('proxy-'));
const CONTENT_TYPES = [
  'application/xml',
  'text/xml',
  'application/cpix+xml',
  'application/xml; charset=utf-8',
  'application/xml; charset=UTF-8',
  'application/xml; charset=iso-8859-1',
  'application/xml; charset=utf-16',
  'application/xml; charset=bogus',
  'application/xml;;;',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
  '',
];
const authChoice = fc.oneof(
  { weight: 8, arbitrary: fc.constant<AuthChoice>('encoder') },
  fc.constantFrom<AuthChoice>('keyserver', 'admin', 'none', 'unknown-key', 'malformed'),
);

function encodeBody(body: Buffer, encoding: string | null, compress: boolean): Buffer {
  if (!compress) return body;
  if (encoding === 'gzip') return zlib.gzipSync(body);
  if (encoding === 'deflate') return zlib.deflateSync(body);
  if (encoding === 'br') return zlib.brotliCompressSync(body);
  return body;
}

const spekeCase = (kind: FuzzKind, body: fc.Arbitrary<Buffer>): fc.Arbitrary<FuzzCase> =>
  fc.record({ body, auth: authChoice }).map(({ body: b, auth }): FuzzCase => ({
    kind,
    method: 'POST',
    path: '/copyProtection',
    auth,
    headers: { 'content-type': 'application/xml' },
    body: b,
  }));

/** SPEKE requests with random headers: content types, charsets, encodings, versions, extras. */
const headerCase: fc.Arbitrary<FuzzCase> = fc
  .record({
    body: fc.oneof(
      fc.constantFrom(...VALID_DOCS).map((d) => Buffer.from(d)),
      mutatedBody,
    ),
    auth: authChoice,
    contentType: fc.option(
      fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/xml') },
        { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: headerValue },
      ),
      { freq: 10 },
    ),
    spekeVersion: fc.option(fc.oneof(fc.constantFrom('1.0', '2.0', ' 1.0 ', '1', ''), headerValue)),
    encoding: fc.option(fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'gzip, gzip', 'x-unknown')),
    compress: fc.boolean(),
    requestId: fc.option(headerValue),
    extra: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
  })
  .map((h): FuzzCase => {
    const headers: Record<string, string> = { ...h.extra };
    if (h.contentType !== null) headers['content-type'] = h.contentType;
    if (h.spekeVersion !== null) headers['x-speke-version'] = h.spekeVersion;
    if (h.encoding !== null) headers['content-encoding'] = h.encoding;
    if (h.requestId !== null) headers['x-request-id'] = h.requestId;
    const body = encodeBody(h.body, h.encoding, h.compress);
    return { kind: 'headers', method: 'POST', path: '/copyProtection', auth: h.auth, headers, body };
  });

const segment = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._~:@+=-]{0,30}$/) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map(encodeURIComponent) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '%',
      '%zz',
      '%E0%A4%A',
      '%00',
      '%2F',
      '%2e%2e',
      '..',
      '.',
      '',
      '%C0%AE',
      '%FF%FE',
      'a'.repeat(300),
      '~',
      ';x=1',
      '*',
      ...KID_POOL,
      ...RESOURCE_POOL,
    ),
  },
);
const ROUTE_PREFIXES = ['/keys', '/leases', '/static-keys', '/api-keys', '/clearkey', ''];
const FIXED_PATHS = ['/copyProtection', '/healthz', '/heartbeat', '/openapi.json', '/', '//keys//', '/COPYPROTECTION'];
const query = fc.option(
  fc.oneof(
    fc.constantFrom('?', '?a=1&a=2', '?%zz', '?x[y]=1', '?__proto__=1'),
    fc.string({ maxLength: 40 }).map((s) => `?q=${encodeURIComponent(s)}`),
  ),
  { freq: 4 },
);
const pathBody = fc.option(
  fc.oneof(
    fc.json({ maxDepth: 3 }).map((j) => ({ type: 'application/json', body: Buffer.from(j) })),
    fc.constantFrom(...VALID_DOCS).map((d) => ({ type: 'application/xml', body: Buffer.from(d) })),
    headerValue.map((s) => ({ type: 'application/json', body: Buffer.from(s) })),
  ),
);

/** Random methods on known and unknown routes with odd segments, encodings and query strings. */
const pathCase: fc.Arbitrary<FuzzCase> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
    path: fc.oneof(
      fc
        .tuple(fc.constantFrom(...ROUTE_PREFIXES), fc.array(segment, { maxLength: 3 }))
        .map(([prefix, segs]) => [prefix, ...segs].join('/') || '/'),
      fc.constantFrom(...FIXED_PATHS),
    ),
    query,
    auth: fc.constantFrom<AuthChoice>('encoder', 'keyserver', 'admin', 'none', 'unknown-key', 'malformed'),
    body: pathBody,
  })
  .map((p): FuzzCase => ({
    kind: 'path',
    method: p.method,
    path: p.path + (p.query ?? ''),
    auth: p.auth,
    headers: p.body ? { 'content-type': p.body.type } : {},
    body: p.method === 'GET' || p.method === 'HEAD' ? undefined : p.body?.body,
  }));

/** Every fuzz family, weighted towards SPEKE bodies (what encoders send). */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 15, arbitrary: spekeCase('random-body', randomBody) },
  { weight: 35, arbitrary: spekeCase('mutated-body', mutatedBody) },
  { weight: 20, arbitrary: spekeCase('generated-cpix', generatedCpix) },
  { weight: 15, arbitrary: headerCase },
  { weight: 15, arbitrary: pathCase },
);
