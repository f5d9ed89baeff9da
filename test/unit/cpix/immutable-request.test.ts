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

  it('is read-only by type: the compiler refuses changes to the typed view and the tree', () => {
    const request = parseCpix(fixture(file), speke);
    // Never called: these lines only have to fail to compile (tsc checks the tests), which is the guarantee
    // now that the request is not frozen at run time.
    const mutations = (): void => {
      // @ts-expect-error the typed view is read-only
      request.resourceId = 'changed';
      // @ts-expect-error the lists are read-only
      request.contentKeys.push(request.contentKeys[0]);
      // @ts-expect-error the tree's children are read-only
      request.root.children.push({ text: 'x' });
      // @ts-expect-error attributes of the tree are read-only
      request.root.attrs[0].value = 'changed';
      // @ts-expect-error the tree's elements are not editable XmlElements
      setAttr(request.root, 'id', 'changed');
    };
    expect(typeof mutations).toBe('function');
  });

  it('is not changed by filling: deep-equal before and after answering, keys and signalling included', () => {
    const request = parseCpix(fixture(file), speke);
    const pristine = parseCpix(fixture(file), speke);
    answer(request);
    expect(request).toEqual(pristine);
    expect(serializeXml(request.root as XmlElement)).toBe(serializeXml(pristine.root as XmlElement));
  });
});
