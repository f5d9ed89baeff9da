/**
 * Encrypted responses (CPIX DeliveryData): with a delivery certificate in the request the keys must
 * come back encrypted, decrypt with the recipient's private key, pass every ValueMAC check, equal
 * the keys a clear request gets, and (v2) the document must stay XSD-valid. A provider that refuses
 * encrypted requests with a 4xx is skipped: SPEKE makes content key encryption optional.
 */
import type { CpixRequestSpec } from '../cpix-request-builder';
import type { DrmName } from '../drm-names';
import {
  CheckSkippedError,
  describeAnswer,
  expect,
  pass,
  resourceIdFor,
  type Check,
  type ConformanceContext,
} from './check';
import { exchange, expectKeys, expectOk, expectPreserved, replayKids, responseOf, type Exchange } from './assertions';
import { v2PrimaryDrm } from './v2-checks';

function material(ctx: ConformanceContext) {
  if (!ctx.delivery.available) throw new CheckSkippedError(ctx.delivery.reason);
  return ctx.delivery;
}

function clearSpec(ctx: ConformanceContext, speke: '1.0' | '2.0', label: string): CpixRequestSpec {
  const drms: DrmName[] = [speke === '2.0' ? v2PrimaryDrm(ctx) : (ctx.drms[0] as DrmName)];
  return { speke, resourceId: resourceIdFor(ctx, label), drms };
}

async function encryptedExchange(ctx: ConformanceContext, speke: '1.0' | '2.0', label: string): Promise<Exchange> {
  const { certificateDer } = material(ctx);
  const ex = await exchange(ctx, { ...clearSpec(ctx, speke, label), certificateDer });
  if (ex.result.status >= 400 && ex.result.status < 500) {
    throw new CheckSkippedError(`the provider refused the encrypted request (${describeAnswer(ex.result)})`);
  }
  expectOk(ex.result);
  return ex;
}

function encryptedCheck(speke: '1.0' | '2.0'): Check {
  const v = speke === '1.0' ? 'v1' : 'v2';
  return {
    name: `${v}.encrypted-response`,
    category: 'encryption',
    speke,
    description:
      'with a delivery certificate, keys come back encrypted, decrypt, pass their MACs and equal the clear keys',
    async run(ctx) {
      const { privateKey, source } = material(ctx);
      const ex = await encryptedExchange(ctx, speke, `${v}-encrypted`);
      const opaque = responseOf(ex.result);
      expect(
        opaque.encrypted && opaque.keys.every((k) => !k.key),
        'a delivery certificate was sent but keys came back in pskc:PlainValue',
      );
      const decrypted = expectKeys(responseOf(ex.result, privateKey), ex.request.keys);
      expectPreserved(ex.request.root, opaque, speke);
      const clear = await exchange(ctx, { ...clearSpec(ctx, speke, `${v}-encrypted`), newKid: replayKids(ex.request) });
      expectOk(clear.result);
      const clearKeys = expectKeys(responseOf(clear.result), clear.request.keys);
      for (const [kid, key] of decrypted)
        expect(key.equals(clearKeys.get(kid) as Buffer), `KID ${kid}: the decrypted key differs from the clear answer`);
      return pass(`${decrypted.size} key(s) decrypted, MACs verified (${source})`);
    },
  };
}

const encryptedXsdCheck: Check = {
  name: 'v2.encrypted-xsd-valid',
  category: 'schema',
  speke: '2.0',
  description: 'an encrypted response is valid against the DASH-IF CPIX 2.3 XSD',
  async run(ctx) {
    if (ctx.xsd.unavailable) throw new CheckSkippedError(ctx.xsd.unavailable);
    const ex = await encryptedExchange(ctx, '2.0', 'v2-encrypted-xsd');
    const verdict = ctx.xsd.validate(ex.result.text, 'cpix-2.3');
    expect(verdict.valid, `xmllint: ${verdict.valid ? '' : verdict.errors}`);
    return pass();
  },
};

/** Encrypted-response checks for one SPEKE version. */
export function encryptedChecks(speke: '1.0' | '2.0'): Check[] {
  return speke === '1.0' ? [encryptedCheck('1.0')] : [encryptedCheck('2.0'), encryptedXsdCheck];
}
