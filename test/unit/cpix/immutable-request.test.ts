import type { CpixRequest } from '../../../src/cpix/cpix-model';
import { fillCpixV1, type KeyMaterial, type SignalsByElement } from '../../../src/cpix/fill-cpix';
import { fillCpixV2 } from '../../../src/cpix/fill-cpix-v2';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { serializeXml } from '../../../src/cpix/xml-serialize';
import { setAttr, type XmlElement } from '../../../src/cpix/xml-tree';
import { createDrmRegistry } from '../../../src/drm/registry';
import { SETTINGS } from '../drm/context';
import { fixture } from '../../helpers/fixtures';

const REGISTRY = createDrmRegistry(SETTINGS);
const needsIv = (systemId: string) => REGISTRY.get(systemId)?.needsIv === true;

/** Fixed keys and each system's signalling for every DRMSystem of a request. */
function inputs(request: CpixRequest): { keys: Map<string, KeyMaterial>; signals: SignalsByElement } {
  const keys = new Map(
    request.contentKeys.map((k, i) => [k.kid, { key: Buffer.alloc(16, i + 1), iv: Buffer.alloc(16, i + 50) }]),
  );
  const signals = new Map(
    request.drmSystems.map((d) => {
      const m = keys.get(d.kid) as KeyMaterial;
      const signal = REGISTRY.get(d.systemId)?.signal({
        spekeVersion: request.speke === '1.0' ? 'v1' : 'v2',
        resourceId: request.resourceId,
        kid: d.kid,
        key: m.key,
        iv: m.iv,
        scheme: request.contentKeys.find((k) => k.kid === d.kid)?.scheme,
        keyUrl: `https://keys.example/${d.kid}`,
      });
      return [d.element, signal ?? {}];
    }),
  );
  return { keys, signals };
}

function answer(request: CpixRequest): string {
  const { keys, signals } = inputs(request);
  const root =
    request.speke === '1.0' ? fillCpixV1(request, keys, signals) : fillCpixV2(request, keys, signals, needsIv);
  return serializeXml(root);
}

/** A deep, plain snapshot of the request (typed view and tree). */
function snapshot(request: CpixRequest): string {
  return JSON.stringify(request, (_k, v: unknown) =>
    v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? `buffer:${String(v)}` : v,
  );
}

describe.each([
  ['SPEKE v1', 'v1/hls-several-keys.xml', '1.0'],
  ['SPEKE v2.0', 'v2/aws/vod-example.xml', '2.0'],
  ['SPEKE v2.1', 'v2/aws/v21-widevine-master.xml', '2.1'],
] as const)('a parsed request (%s)', (_name, file, speke) => {
  it('answers twice with identical output and stays as parsed', () => {
    const request = parseCpix(fixture(file), speke);
    const before = snapshot(request);
    const first = answer(request);
    const second = answer(request);
    expect(second).toBe(first);
    expect(snapshot(request)).toBe(before);
    expect(answer(parseCpix(fixture(file), speke))).toBe(first);
  });

  it('is frozen: the typed view and the tree refuse changes', () => {
    const request = parseCpix(fixture(file), speke);
    expect(Object.isFrozen(request)).toBe(true);
    expect(Object.isFrozen(request.contentKeys)).toBe(true);
    expect(Object.isFrozen(request.contentKeys[0])).toBe(true);
    expect(Object.isFrozen(request.root.children)).toBe(true);
    expect(() => setAttr(request.root as XmlElement, 'id', 'changed')).toThrow(TypeError);
    expect(() => (request.contentKeys[0]?.element.attrs as unknown[]).push({})).toThrow(TypeError);
  });
});
