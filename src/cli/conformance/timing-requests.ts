/**
 * SPEKE v2.1 key-period requests in MediaPackage v2's three `ContentKeyPeriodTiming` modes (INDEX_ONLY,
 * START_END_ONLY, INDEX_WITH_START_END; live `@start/@end` or VOD `@startOffset/@endOffset`): one SHARED
 * (`ALL`) key per period, Widevine and PlayReady signalling, `cenc`. Used by the conformance checks and
 * the tests, so both send the same documents. Pure: no I/O.
 */

/** One key period and the KID the encryptor names for it. */
export interface TimedPeriod {
  kid: string;
  index?: number;
  start?: string;
  end?: string;
  startOffset?: string;
  endOffset?: string;
}

/** The three modes by name, as MediaPackage's setting spells them. */
export type TimingMode = 'INDEX_ONLY' | 'START_END_ONLY' | 'INDEX_WITH_START_END';

const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';
const PLAYREADY = '9a04f079-9840-4286-ab92-e65be0885f95';

/** The period's id: derived from its KID, so the same period keeps its id in every request. */
export function periodId(p: TimedPeriod): string {
  return `keyPeriod_${p.kid}`;
}

function periodAttrs(p: TimedPeriod): string {
  const attrs: Array<[string, string | number | undefined]> = [
    ['id', periodId(p)],
    ['index', p.index],
    ['start', p.start],
    ['end', p.end],
    ['startOffset', p.startOffset],
    ['endOffset', p.endOffset],
  ];
  return attrs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${String(v)}"`)
    .join(' ');
}

/** A SPEKE v2.1 (CPIX 2.4) request for `periods` of `resourceId`. */
export function timingRequest(resourceId: string, periods: readonly TimedPeriod[]): string {
  const keys = periods.map((p) => `<cpix:ContentKey kid="${p.kid}" commonEncryptionScheme="cenc"/>`);
  const drms = periods.flatMap((p) =>
    [WIDEVINE, PLAYREADY].map(
      (id) =>
        `<cpix:DRMSystem kid="${p.kid}" systemId="${id}"><cpix:PSSH/><cpix:ContentProtectionData/></cpix:DRMSystem>`,
    ),
  );
  const list = periods.map((p) => `<cpix:ContentKeyPeriod ${periodAttrs(p)}/>`);
  const rules = periods.map(
    (p) =>
      `<cpix:ContentKeyUsageRule kid="${p.kid}" intendedTrackType="ALL"><cpix:KeyPeriodFilter periodId="${periodId(p)}"/>` +
      '<cpix:AudioFilter/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>',
  );
  return (
    `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="${resourceId}" version="2.4">` +
    `<cpix:ContentKeyList>${keys.join('')}</cpix:ContentKeyList>` +
    `<cpix:DRMSystemList>${drms.join('')}</cpix:DRMSystemList>` +
    `<cpix:ContentKeyPeriodList>${list.join('')}</cpix:ContentKeyPeriodList>` +
    `<cpix:ContentKeyUsageRuleList>${rules.join('')}</cpix:ContentKeyUsageRuleList>` +
    '</cpix:CPIX>'
  );
}

/**
 * `count` consecutive periods of `seconds` each in `mode`, the first at `first` (index `firstIndex`):
 * live periods from an ISO instant, VOD periods (`vod`) as offsets from 0.
 */
export function consecutivePeriods(
  kids: readonly string[],
  mode: TimingMode,
  opts: { first?: Date; firstIndex?: number; seconds?: number; vod?: boolean } = {},
): TimedPeriod[] {
  const seconds = opts.seconds ?? 300;
  const first = opts.first ?? new Date(Date.UTC(2026, 0, 1, 12));
  return kids.map((kid, i) => {
    const index = mode === 'START_END_ONLY' ? undefined : (opts.firstIndex ?? 0) + i;
    if (mode === 'INDEX_ONLY') return { kid, index };
    if (opts.vod) return { kid, index, startOffset: `PT${i * seconds}S`, endOffset: `PT${(i + 1) * seconds}S` };
    const at = (n: number) => new Date(first.getTime() + n * seconds * 1000).toISOString();
    return { kid, index, start: at(i), end: at(i + 1) };
  });
}
