/**
 * SPEKE v1 checks with valid requests: every DRM system, content type, user agent header,
 * several keys, key stability on repeat, key rotation, and the request document kept.
 */
import { DRM_SYSTEMS, type DrmName } from '../drm-names';
import { expect, pass, resourceIdFor, type Check, type ConformanceContext } from './check';
import { exchange, expectOk, expectSameKeysOnRepeat, expectValidExchange, expectXmlContentType } from './assertions';

const V1 = '1.0' as const;

function drmCheck(drm: DrmName): Check {
  return {
    name: `v1.drm.${drm}`,
    category: 'drm',
    speke: V1,
    description: `a ${DRM_SYSTEMS[drm].label} request gets a 16-byte key and its signalling filled`,
    async run(ctx) {
      await expectValidExchange(ctx, { speke: V1, resourceId: resourceIdFor(ctx, `v1-${drm}`), drms: [drm] });
      return pass();
    },
  };
}

const primary = (ctx: ConformanceContext): DrmName[] => [ctx.drms[0] as DrmName];

const transportChecks: Check[] = [
  {
    name: 'v1.content-type',
    category: 'transport',
    speke: V1,
    description: 'the response is an XML document (Content-Type application/xml)',
    async run(ctx) {
      const { result } = await exchange(ctx, {
        speke: V1,
        resourceId: resourceIdFor(ctx, 'v1-ctype'),
        drms: primary(ctx),
      });
      expectOk(result);
      expectXmlContentType(result);
      return pass(result.headers.get('content-type') ?? '');
    },
  },
  {
    name: 'v1.user-agent-header',
    category: 'transport',
    speke: V1,
    description: 'the response names the key provider in Speke-User-Agent',
    async run(ctx) {
      const { result } = await exchange(ctx, {
        speke: V1,
        resourceId: resourceIdFor(ctx, 'v1-ua'),
        drms: primary(ctx),
      });
      expectOk(result);
      const agent = result.headers.get('speke-user-agent') ?? result.headers.get('x-speke-user-agent');
      expect(agent, 'no Speke-User-Agent header in the response');
      return pass(agent);
    },
  },
  {
    name: 'v1.document-preserved',
    category: 'transport',
    speke: V1,
    description: 'the response is the request document filled in: nothing the encoder sent is lost',
    async run(ctx) {
      await expectValidExchange(ctx, {
        speke: V1,
        resourceId: resourceIdFor(ctx, 'v1-doc'),
        drms: ctx.drms,
        keyCount: 2,
      });
      return pass(`${ctx.drms.length} DRM system(s), 2 keys`);
    },
  },
];

const keyChecks: Check[] = [
  {
    name: 'v1.multiple-keys',
    category: 'keys',
    speke: V1,
    description: 'a request for several KIDs gets a key for each',
    async run(ctx) {
      const { keys } = await expectValidExchange(ctx, {
        speke: V1,
        resourceId: resourceIdFor(ctx, 'v1-multi'),
        drms: primary(ctx),
        keyCount: 3,
      });
      return pass(`${keys.size} keys`);
    },
  },
  {
    name: 'v1.key-stability',
    category: 'keys',
    speke: V1,
    description: 'the same request sent again returns the same keys (same resource ID and KIDs)',
    async run(ctx) {
      const spec = { speke: V1, resourceId: resourceIdFor(ctx, 'v1-stable'), drms: primary(ctx), keyCount: 2 };
      const first = await exchange(ctx, spec);
      expectOk(first.result);
      return pass(`${await expectSameKeysOnRepeat(ctx, spec, first)} keys stable`);
    },
  },
  {
    name: 'v1.key-rotation',
    category: 'keys',
    speke: V1,
    description:
      'a key rotation request (ContentKeyPeriodList + KeyPeriodFilter) gets a key per period, stable on repeat',
    async run(ctx) {
      const spec = {
        speke: V1,
        resourceId: resourceIdFor(ctx, 'v1-rotation'),
        drms: primary(ctx),
        rotation: { count: 2, firstIndex: 100 },
      };
      const { ex } = await expectValidExchange(ctx, spec);
      return pass(`${await expectSameKeysOnRepeat(ctx, spec, ex)} period keys stable`);
    },
  },
];

/** The SPEKE v1 checks with valid requests, one per DRM system under test plus the general ones. */
export function v1Checks(drms: readonly DrmName[]): Check[] {
  return [...transportChecks, ...drms.map(drmCheck), ...keyChecks];
}
