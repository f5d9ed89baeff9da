/**
 * What a valid SPEKE answer looks like, as assertions shared by the checks: status, content type,
 * one 16-byte key per requested KID, DRM signalling that parses, and the request document kept.
 * They test what SPEKE requires, never Keyplane's own choices (key URL formats, PSSH data, ...).
 */
import type { KeyObject } from 'node:crypto';
import { NS } from '../../cpix/namespaces';
import { isElement, type XmlElement } from '../../cpix/xml-tree';
import { buildCpixRequest, type BuiltRequest, type CpixRequestSpec, type PlannedKey } from '../cpix-request-builder';
import { hlsUri, parsePsshBox, readCpixResponse, type CpixResponse, type ResponseDrm } from '../cpix-response-reader';
import { DRM_SYSTEMS, type DrmName } from '../drm-names';
import type { HttpResult } from '../http-client';
import { CheckFailedError, describeAnswer, expect, type ConformanceContext } from './check';

/** A request sent and what came back. */
export interface Exchange {
  request: BuiltRequest;
  result: HttpResult;
}

/** Builds a request from `spec` and posts it (v2 specs carry X-Speke-Version: 2.0). */
export async function exchange(ctx: ConformanceContext, spec: CpixRequestSpec): Promise<Exchange> {
  const request = buildCpixRequest(spec);
  const result = await ctx.speke.post(request.xml, { version: spec.speke === '2.0' ? '2.0' : undefined });
  return { request, result };
}

/** Requires HTTP 200. */
export function expectOk(result: HttpResult): void {
  expect(result.status === 200, `expected HTTP 200 for a valid request, got ${describeAnswer(result)}`);
}

/** Requires an XML content type (application/xml, text/xml or a +xml type). */
export function expectXmlContentType(result: HttpResult): void {
  const type = (result.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  expect(
    /^(application|text)\/([\w.+-]+\+)?xml$/.test(type),
    `Content-Type is "${type || '(none)'}", expected application/xml`,
  );
}

/** Parses the answer as a CPIX document (decrypting with `privateKey` when given). */
export function responseOf(result: HttpResult, privateKey?: KeyObject): CpixResponse {
  try {
    return readCpixResponse(result.text, privateKey);
  } catch (err) {
    throw new CheckFailedError((err as Error).message);
  }
}

/** Requires a 16-byte key (and a 16-byte explicitIV when one is given) for every requested KID. */
export function expectKeys(response: CpixResponse, planned: readonly PlannedKey[]): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const p of planned) {
    const got = response.keys.find((k) => k.kid === p.kid);
    expect(got, `no cpix:ContentKey for KID ${p.kid} in the response`);
    expect(got.key, `ContentKey ${p.kid} has no key (pskc:PlainValue)`);
    expect(got.key.length === 16, `ContentKey ${p.kid}: the key is ${got.key.length} bytes, expected 16`);
    expect(got.iv === undefined || got.iv.length === 16, `ContentKey ${p.kid}: explicitIV is not 16 bytes`);
    keys.set(p.kid, got.key);
  }
  return keys;
}

function expectPssh(d: ResponseDrm, where: string): void {
  expect(d.pssh, `${where}: cpix:PSSH is empty`);
  let box;
  try {
    box = parsePsshBox(d.pssh);
  } catch (err) {
    throw new CheckFailedError(`${where}: cpix:PSSH is not a valid pssh box (${(err as Error).message})`);
  }
  expect(box.systemId === d.systemId, `${where}: the pssh box is for system ${box.systemId}`);
  expect(box.version === 0 || box.kids.includes(d.kid), `${where}: the version 1 pssh box does not list KID ${d.kid}`);
}

function expectHlsLines(d: ResponseDrm, where: string): void {
  const media = d.hlsMedia ?? '';
  expect(media.startsWith('#EXT-X-KEY:'), `${where}: HLSSignalingData playlist="media" is not an #EXT-X-KEY line`);
  expect(
    d.hlsMaster?.startsWith('#EXT-X-SESSION-KEY:'),
    `${where}: HLSSignalingData playlist="master" is not an #EXT-X-SESSION-KEY line`,
  );
  expect(/METHOD=[A-Z0-9-]+/.test(media) && hlsUri(media), `${where}: the #EXT-X-KEY line lacks METHOD or URI`);
}

function expectContentProtectionData(d: ResponseDrm, where: string): void {
  expect(d.contentProtectionData, `${where}: cpix:ContentProtectionData is empty`);
  const inner = /<(?:[\w-]+:)?pssh\b[^>]*>([^<]*)<\/(?:[\w-]+:)?pssh>/.exec(d.contentProtectionData)?.[1];
  if (inner !== undefined && d.pssh) {
    expect(
      inner.replace(/\s+/g, '') === d.pssh.toString('base64'),
      `${where}: the <pssh> in ContentProtectionData differs from cpix:PSSH`,
    );
  }
}

function expectV1Hls(d: ResponseDrm, drm: DrmName, where: string): void {
  expect(d.uriExtXKey, `${where}: cpix:URIExtXKey is empty`);
  expect(/^[a-z][a-z0-9+.-]*:\S+$/i.test(d.uriExtXKey), `${where}: URIExtXKey "${d.uriExtXKey}" is not a URI`);
  const format = drm === 'fairplay' ? 'com.apple.streamingkeydelivery' : 'identity';
  expect(
    d.keyFormat === undefined || d.keyFormat === format,
    `${where}: KeyFormat is "${d.keyFormat}", expected "${format}"`,
  );
}

/** Requires each requested DRMSystem to be present and filled as SPEKE v1/v2 specifies for its system. */
function expectSignalling(
  response: CpixResponse,
  planned: readonly PlannedKey[],
  drms: readonly DrmName[],
  speke: '1.0' | '2.0',
): void {
  for (const p of planned) {
    for (const drm of drms) {
      const info = DRM_SYSTEMS[drm];
      const where = `DRMSystem ${info.label} for KID ${p.kid}`;
      const d = response.drmSystems.find((x) => x.kid === p.kid && x.systemId === info.systemId);
      expect(d, `${where} is missing from the response`);
      if (speke === '1.0' && info.hls) expectV1Hls(d, drm, where);
      else if (speke === '1.0') expectPssh(d, where);
      else if (info.hls) expectHlsLines(d, where);
      else {
        expectPssh(d, where);
        expectContentProtectionData(d, where);
      }
    }
  }
}

function sameAttributes(req: XmlElement, res: XmlElement): boolean {
  return req.attrs
    .filter((a) => a.ns !== NS.xmlns)
    .every((a) => res.attrs.some((b) => b.ns === a.ns && b.local === a.local && b.value === a.value));
}

const kidLabel = (el: XmlElement) =>
  el.attrs
    .filter((a) => a.local === 'kid')
    .map((a) => `[@kid=${a.value}]`)
    .join('');

/** The first attribute of `req` that the same-named response element (same kid when it has one) lacks or changed. */
function lostAttribute(req: XmlElement, sameName: XmlElement[]): string | undefined {
  const peer = sameName.find((c) => kidLabel(c) === kidLabel(req)) ?? sameName[0];
  const lost =
    peer &&
    req.attrs.find(
      (a) => a.ns !== NS.xmlns && !peer.attrs.some((b) => b.ns === a.ns && b.local === a.local && b.value === a.value),
    );
  return lost && `/@${lost.qname}`;
}

/** Path of the deepest request element or attribute with no counterpart in the response, if any. */
function missingElement(
  req: XmlElement,
  res: XmlElement,
  path: string,
  deep: (el: XmlElement) => boolean,
): string | undefined {
  if (!deep(req)) return undefined;
  const used = new Set<XmlElement>();
  for (const child of req.children.filter(isElement)) {
    const here = `${path}/${child.qname}${kidLabel(child)}`;
    const sameName = res.children
      .filter(isElement)
      .filter((c) => !used.has(c) && c.ns === child.ns && c.local === child.local);
    const candidates = sameName.filter((c) => sameAttributes(child, c));
    const match = candidates.find((c) => !missingElement(child, c, here, deep));
    if (match) {
      used.add(match);
      continue;
    }
    if (candidates[0]) return missingElement(child, candidates[0], here, deep);
    return `${here}${lostAttribute(child, sameName) ?? ''}`;
  }
  return undefined;
}

/**
 * Requires every element and attribute of the request in the response, and no new top-level lists.
 * v1 answers may drop a DRMSystem's unused placeholders (AWS's own examples do), so v1 stops there.
 */
export function expectPreserved(request: XmlElement, response: CpixResponse, speke: '1.0' | '2.0'): void {
  const root = response.root;
  expect(
    sameAttributes(request, root),
    'the response root does not keep the request root attributes (id/contentId/version)',
  );
  const deep = (el: XmlElement) => speke === '2.0' || !(el.ns === NS.cpix && el.local === 'DRMSystem');
  const missing = missingElement(request, root, request.qname, deep);
  expect(missing === undefined, `the response lost ${missing} of the request`);
  const kinds = new Set(request.children.filter(isElement).map((c) => `${c.ns} ${c.local}`));
  const added = root.children.filter(isElement).find((c) => !kinds.has(`${c.ns} ${c.local}`));
  expect(added === undefined, `the response adds a top-level ${added?.qname} the request did not have`);
}

/** A valid request answered in full: 200, XML, keys for every KID, filled signalling, document kept. */
export async function expectValidExchange(
  ctx: ConformanceContext,
  spec: CpixRequestSpec,
): Promise<{ keys: Map<string, Buffer>; ex: Exchange }> {
  const ex = await exchange(ctx, spec);
  expectOk(ex.result);
  const response = responseOf(ex.result);
  const keys = expectKeys(response, ex.request.keys);
  expectSignalling(response, ex.request.keys, spec.drms, spec.speke);
  expectPreserved(ex.request.root, response, spec.speke);
  return { keys, ex };
}

/** A KID source that repeats the KIDs of an earlier request, in order. */
export function replayKids(request: BuiltRequest): () => string {
  let i = 0;
  return () => request.keys[i++]?.kid as string;
}

/** Sends `spec` again with the same KIDs and requires the same key for every KID. */
export async function expectSameKeysOnRepeat(
  ctx: ConformanceContext,
  spec: CpixRequestSpec,
  first: Exchange,
): Promise<number> {
  const firstKeys = expectKeys(responseOf(first.result), first.request.keys);
  const again = await exchange(ctx, { ...spec, newKid: replayKids(first.request) });
  expectOk(again.result);
  const repeat = expectKeys(responseOf(again.result), again.request.keys);
  for (const [kid, key] of firstKeys) {
    expect(
      key.equals(repeat.get(kid) as Buffer),
      `KID ${kid} got a different key when the same request was sent again`,
    );
  }
  return firstKeys.size;
}
