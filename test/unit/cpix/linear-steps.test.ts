/**
 * The two lookups the input-cost work found quadratic (docs/hardening-notes.md, "Superlinear steps"):
 * the encryption contract's rules per period and fillCpixV2's explicitIV decision. They count
 * operations, not time: the work per request must grow with n, not n².
 */
import type { ContentKeyEntry, CpixRequest, UsageRuleEntry } from '../../../src/cpix/cpix-model';
import { fillCpixV2 } from '../../../src/cpix/fill-cpix-v2';
import { parseCpix } from '../../../src/cpix/parse-cpix';
import { checkEncryptionContract } from '../../../src/cpix/v2/encryption-contract';
import { v2RotationRequest } from '../../helpers/cost-docs';

const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';

/** A rotation request of n keys, each with its own period and rule, Widevine + PlayReady per key. */
function rotation(n: number): CpixRequest {
  return parseCpix(v2RotationRequest('linear', n, 'cenc'), '2.0');
}

/** The rules, each counting how often its periodIds are read. */
function countingRules(rules: readonly UsageRuleEntry[], reads: { n: number }): UsageRuleEntry[] {
  return rules.map((rule) => {
    const copy = { ...rule };
    Object.defineProperty(copy, 'periodIds', {
      get: () => {
        reads.n += 1;
        return rule.periodIds;
      },
    });
    return copy;
  });
}

describe('linear steps of a SPEKE v2 rotation request', () => {
  it('reads each rule’s periods a constant number of times, whatever the number of periods', () => {
    const counts: number[] = [];
    for (const n of [100, 400]) {
      const request = rotation(n);
      expect(request.periods).toHaveLength(n);
      const reads = { n: 0 };
      checkEncryptionContract({ ...request, usageRules: countingRules(request.usageRules, reads) });
      counts.push(reads.n);
    }
    // Before: every period filtered every rule, 100 × 100 + … reads at n = 100 and 16× that at 4n.
    expect(counts[1]).toBeLessThanOrEqual((counts[0] ?? 0) * 4);
    expect(counts[1]).toBeLessThanOrEqual(400 * 4);
  });

  it('asks needsIv once per DRMSystem and compares no ContentKey with every DRMSystem', () => {
    const counts: number[] = [];
    for (const n of [100, 400]) {
      const request = rotation(n);
      let kidReads = 0;
      const drmSystems = request.drmSystems.map((d) => {
        const copy = { ...d };
        Object.defineProperty(copy, 'kid', {
          get: () => {
            kidReads += 1;
            return d.kid;
          },
        });
        return copy;
      });
      let asked = 0;
      const needsIv = (systemId: string): boolean => {
        asked += 1;
        return systemId === WIDEVINE;
      };
      const keys = new Map(
        request.contentKeys.map((ck: ContentKeyEntry) => [
          ck.kid,
          { key: Buffer.alloc(16, 1), iv: Buffer.alloc(16, 2) },
        ]),
      );
      fillCpixV2({ ...request, drmSystems }, keys, new Map(), needsIv);
      expect(asked).toBe(drmSystems.length);
      counts.push(kidReads);
    }
    expect(counts[1]).toBeLessThanOrEqual((counts[0] ?? 0) * 4);
  });

  it('stops at the first period that breaks the contract: rules in every period are not copied per period', () => {
    const reads: number[] = [];
    for (const n of [1000, 4000]) {
      const request = rotation(n);
      // Every rule loses its KeyPeriodFilter: each applies to every period, so each period repeats ALL.
      const usageRules = request.usageRules.map((r) => ({ ...r, periodIds: [] }));
      let periodReads = 0;
      const periods = request.periods.map((p) => {
        const copy = { ...p };
        Object.defineProperty(copy, 'id', {
          get: () => {
            periodReads += 1;
            return p.id;
          },
        });
        return copy;
      });
      expect(() => checkEncryptionContract({ ...request, periods, usageRules })).toThrow(
        expect.objectContaining({
          details: {
            reason: 'intendedTrackType ALL is used by more than one ContentKeyUsageRule in ContentKeyPeriod "p0"',
          },
        }),
      );
      reads.push(periodReads);
    }
    // Before: every one of the n periods got its own copy of all n rules before the first check.
    expect(reads[1]).toBe(reads[0]);
    expect(reads[0]).toBeLessThanOrEqual(4);
  });
});
