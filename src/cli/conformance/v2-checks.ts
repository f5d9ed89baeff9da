/**
 * SPEKE v2 checks with valid requests: every encryption preset, every DRM system, the response
 * headers, key stability, key rotation, the request document kept, and XSD validity.
 */
import { DRM_SYSTEMS, type DrmName } from '../drm-names';
import { allPresetPairs, presetLabel, type PresetPair } from '../presets';
import type { CpixRequestSpec } from '../cpix-request-builder';
import { CheckSkippedError, expect, pass, resourceIdFor, type Check, type ConformanceContext } from './check';
import { exchange, expectOk, expectSameKeysOnRepeat, expectValidExchange, expectXmlContentType } from './assertions';

const V2 = '2.0' as const;

/** The DRM system preset and transport checks use: the first PSSH-based one under test, else the first. */
export function v2PrimaryDrm(ctx: ConformanceContext): DrmName {
  return ctx.drms.find((d) => DRM_SYSTEMS[d].pssh) ?? (ctx.drms[0] as DrmName);
}

function spec(ctx: ConformanceContext, label: string, extra: Partial<CpixRequestSpec> = {}): CpixRequestSpec {
  return { speke: V2, resourceId: resourceIdFor(ctx, label), drms: [v2PrimaryDrm(ctx)], ...extra };
}

function presetCheck(pair: PresetPair): Check {
  const label = presetLabel(pair);
  return {
    name: `v2.preset.${label}`,
    category: 'contract',
    speke: V2,
    description: `the ${label} encryption contract gets a key for every track type`,
    async run(ctx) {
      const { keys, ex } = await expectValidExchange(ctx, spec(ctx, `v2-${label}`, { preset: pair }));
      return pass(`${keys.size} key(s): ${ex.request.keys.map((k) => k.trackType).join(', ')}`);
    },
  };
}

function drmCheck(drm: DrmName): Check {
  return {
    name: `v2.drm.${drm}`,
    category: 'drm',
    speke: V2,
    description: `a ${DRM_SYSTEMS[drm].label} request gets keys and its PSSH/ContentProtectionData or HLSSignalingData filled`,
    async run(ctx) {
      await expectValidExchange(ctx, spec(ctx, `v2-${drm}`, { drms: [drm] }));
      return pass();
    },
  };
}

async function validOk(ctx: ConformanceContext, label: string) {
  const ex = await exchange(ctx, spec(ctx, label));
  expectOk(ex.result);
  return ex;
}

const transportChecks: Check[] = [
  {
    name: 'v2.version-header',
    category: 'transport',
    speke: V2,
    description: 'the response echoes X-Speke-Version: 2.0',
    async run(ctx) {
      const { result } = await validOk(ctx, 'v2-version');
      const version = result.headers.get('x-speke-version');
      expect(version !== null, 'no X-Speke-Version header in the response');
      expect(version.trim() === '2.0', `X-Speke-Version is "${version}", expected "2.0"`);
      return pass(version);
    },
  },
  {
    name: 'v2.user-agent-header',
    category: 'transport',
    speke: V2,
    description: 'the response names the key provider in X-Speke-User-Agent',
    async run(ctx) {
      const { result } = await validOk(ctx, 'v2-ua');
      const agent = result.headers.get('x-speke-user-agent');
      expect(agent, 'no X-Speke-User-Agent header in the response');
      return pass(agent);
    },
  },
  {
    name: 'v2.content-type',
    category: 'transport',
    speke: V2,
    description: 'the response is an XML document (Content-Type application/xml)',
    async run(ctx) {
      const { result } = await validOk(ctx, 'v2-ctype');
      expectXmlContentType(result);
      return pass(result.headers.get('content-type') ?? '');
    },
  },
  {
    name: 'v2.document-preserved',
    category: 'transport',
    speke: V2,
    description: 'every element and attribute the encoder sent is in the response',
    async run(ctx) {
      const preset = { video: 'PRESET-VIDEO-3', audio: 'PRESET-AUDIO-2' };
      await expectValidExchange(ctx, spec(ctx, 'v2-doc', { drms: ctx.drms, preset }));
      return pass(`${ctx.drms.length} DRM system(s), ${presetLabel(preset)}`);
    },
  },
];

const keyChecks: Check[] = [
  {
    name: 'v2.key-stability',
    category: 'keys',
    speke: V2,
    description: 'the same request sent again returns the same keys',
    async run(ctx) {
      const s = spec(ctx, 'v2-stable', { preset: { video: 'PRESET-VIDEO-2', audio: 'PRESET-AUDIO-1' } });
      const first = await exchange(ctx, s);
      expectOk(first.result);
      return pass(`${await expectSameKeysOnRepeat(ctx, s, first)} keys stable`);
    },
  },
  {
    name: 'v2.key-rotation',
    category: 'keys',
    speke: V2,
    description: 'a key rotation request gets keys per period (KeyPeriodFilter in each rule), stable on repeat',
    async run(ctx) {
      const s = spec(ctx, 'v2-rotation', { rotation: { count: 2, firstIndex: 7 } });
      const { ex } = await expectValidExchange(ctx, s);
      return pass(`${await expectSameKeysOnRepeat(ctx, s, ex)} period keys stable`);
    },
  },
];

const schemaCheck: Check = {
  name: 'v2.xsd-valid',
  category: 'schema',
  speke: V2,
  description: 'the response is valid against the DASH-IF CPIX 2.3 XSD',
  async run(ctx) {
    if (ctx.xsd.unavailable) throw new CheckSkippedError(ctx.xsd.unavailable);
    const preset = { video: 'PRESET-VIDEO-3', audio: 'PRESET-AUDIO-2' };
    const { ex } = await expectValidExchange(
      ctx,
      spec(ctx, 'v2-xsd', { drms: ctx.drms, preset, rotation: { count: 1, firstIndex: 1 } }),
    );
    const verdict = ctx.xsd.validate(ex.result.text, 'cpix-2.3');
    expect(verdict.valid, `xmllint: ${verdict.valid ? '' : verdict.errors}`);
    return pass(`${ctx.drms.length} DRM system(s), ${presetLabel(preset)}, one key period`);
  },
};

/** The SPEKE v2 checks with valid requests. */
export function v2Checks(drms: readonly DrmName[]): Check[] {
  return [...transportChecks, ...allPresetPairs().map(presetCheck), ...drms.map(drmCheck), ...keyChecks, schemaCheck];
}
