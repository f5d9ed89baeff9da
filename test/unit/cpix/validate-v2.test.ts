import { parseCpix } from '../../../src/cpix/parse-cpix';
import { checkDrmSchemes } from '../../../src/cpix/v2/validate-v2';
import type { SpekeVersion } from '../../../src/cpix/cpix-model';
import { BadRequestError, KeyplaneError, UnprocessableError } from '../../../src/errors';
import { fixture } from '../../helpers/fixtures';

const WIDEVINE = 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';
const FAIRPLAY = '94ce86fb-07ff-4f43-adb8-93d2fa968ca2';
const NS_DECL = 'xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"';

/** One usage rule: KID, intendedTrackType, filter children (default: what the type implies), periods. */
interface Rule {
  kid: string;
  type: string;
  filters?: string;
  periods?: string[];
}

interface Doc {
  rules: Rule[];
  scheme?: string;
  periods?: string[];
  extraKeys?: string[];
  root?: string;
}

const kid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function defaultFilters(type: string): string {
  if (type === 'ALL') return '<cpix:VideoFilter/><cpix:AudioFilter/>';
  return type.includes('AUDIO') ? '<cpix:AudioFilter/>' : '<cpix:VideoFilter/>';
}

/** A SPEKE v2.0 document: one Widevine DRMSystem per key, the given rules and periods. */
function cpix(doc: Doc): string {
  const kids = [...new Set([...doc.rules.map((r) => r.kid), ...(doc.extraKeys ?? [])])];
  const keys = kids.map((k) => `<cpix:ContentKey kid="${k}" commonEncryptionScheme="${doc.scheme ?? 'cenc'}"/>`);
  const drms = kids.map((k) => `<cpix:DRMSystem kid="${k}" systemId="${WIDEVINE}"><cpix:PSSH/></cpix:DRMSystem>`);
  const periods = (doc.periods ?? []).map((p, i) => `<cpix:ContentKeyPeriod id="${p}" index="${i}"/>`);
  const rules = doc.rules.map((r) => {
    const filters =
      (r.periods ?? []).map((p) => `<cpix:KeyPeriodFilter periodId="${p}"/>`).join('') +
      (r.filters ?? defaultFilters(r.type));
    return `<cpix:ContentKeyUsageRule kid="${r.kid}" intendedTrackType="${r.type}">${filters}</cpix:ContentKeyUsageRule>`;
  });
  return [
    doc.root ?? `<cpix:CPIX contentId="unit-1" version="2.3" ${NS_DECL}>`,
    `<cpix:ContentKeyList>${keys.join('')}</cpix:ContentKeyList>`,
    `<cpix:DRMSystemList>${drms.join('')}</cpix:DRMSystemList>`,
    periods.length > 0 ? `<cpix:ContentKeyPeriodList>${periods.join('')}</cpix:ContentKeyPeriodList>` : '',
    `<cpix:ContentKeyUsageRuleList>${rules.join('')}</cpix:ContentKeyUsageRuleList>`,
    '</cpix:CPIX>',
  ].join('');
}

/** The rules for a list of track types, one key each (KIDs from `first`). */
const rulesFor = (types: readonly string[], first = 1, periods?: string[]): Rule[] =>
  types.map((type, i) => ({ kid: kid(first + i), type, periods }));

/** What a rejected parse threw: status, message and the JSON details. */
function rejection(xml: string, speke: SpekeVersion = '2.0'): Record<string, unknown> {
  try {
    parseCpix(xml, speke);
  } catch (err) {
    if (err instanceof KeyplaneError) return { status: err.status, message: err.message, ...err.details };
    throw err;
  }
  throw new Error('the document was accepted');
}

// The AWS preset tables, written out here independently of src/cpix/track-types.ts.
const VIDEO = [
  ['VIDEO'],
  ['SD', 'HD'],
  ['SD', 'HD', 'UHD'],
  ['SD', 'HD', 'UHD1', 'UHD2'],
  ['SD', 'HD1', 'HD2', 'UHD1', 'UHD2'],
  ['SD', 'HD1', 'HD2', 'UHD'],
  ['SD+HD1', 'HD2', 'UHD'],
  ['SD+HD1', 'HD2', 'UHD1', 'UHD2'],
];
const AUDIO = [
  ['AUDIO'],
  ['STEREO_AUDIO', 'MULTICHANNEL_AUDIO'],
  ['STEREO_AUDIO', 'MULTICHANNEL_AUDIO_3_6', 'MULTICHANNEL_AUDIO_7'],
];
const CONTRACTS: Array<[string, string[]]> = [
  ...VIDEO.flatMap((v, i) =>
    AUDIO.map((a, j): [string, string[]] => [`PRESET-VIDEO-${i + 1} + PRESET-AUDIO-${j + 1}`, [...v, ...a]]),
  ),
  ...VIDEO.map((v, i): [string, string[]] => [`PRESET-VIDEO-${i + 1} + UNENCRYPTED`, v]),
  ...AUDIO.map((a, j): [string, string[]] => [`UNENCRYPTED + PRESET-AUDIO-${j + 1}`, a]),
  ['SHARED', ['ALL']],
];

describe('SPEKE v2 encryption contract: accepted', () => {
  it.each(CONTRACTS)('accepts %s', (_name, types) => {
    expect(parseCpix(cpix({ rules: rulesFor(types) }), '2.0').usageRules).toHaveLength(types.length);
  });

  it.each(CONTRACTS)('accepts %s in each of two key periods', (_name, types) => {
    const rules = [...rulesFor(types, 1, ['p1']), ...rulesFor(types, 101, ['p2'])];
    expect(() => parseCpix(cpix({ rules, periods: ['p1', 'p2'] }), '2.0')).not.toThrow();
  });

  it('checks each period on its own: SHARED in one period, two presets in the next', () => {
    const rules = [...rulesFor(['ALL'], 1, ['p1']), ...rulesFor(['SD', 'HD', 'AUDIO'], 11, ['p2'])];
    expect(() => parseCpix(cpix({ rules, periods: ['p1', 'p2'] }), '2.0')).not.toThrow();
  });

  it('applies a rule without KeyPeriodFilter to every period', () => {
    const rules = [
      { kid: kid(1), type: 'VIDEO' },
      ...rulesFor(['AUDIO'], 2, ['p1']),
      ...rulesFor(['AUDIO'], 3, ['p2']),
    ];
    expect(() => parseCpix(cpix({ rules, periods: ['p1', 'p2'] }), '2.0')).not.toThrow();
  });

  it.each([
    ['one VideoFilter', '<cpix:VideoFilter maxPixels="921600"/>'],
    [
      'one VideoFilter per component',
      '<cpix:VideoFilter maxPixels="589824"/><cpix:VideoFilter minPixels="589825" maxPixels="921600"/>',
    ],
  ])('accepts SD+HD1 with %s', (_what, filters) => {
    const rules = [{ kid: kid(1), type: 'SD+HD1', filters }, ...rulesFor(['HD2', 'UHD'], 2)];
    expect(() => parseCpix(cpix({ rules }), '2.0')).not.toThrow();
  });

  it('ignores what SPEKE ignores: LabelFilter, BitrateFilter, VideoFilter@wcg, hdr and fps bounds', () => {
    const filters =
      '<cpix:LabelFilter label="x"/><cpix:VideoFilter wcg="true" hdr="false" minFps="1" maxFps="60"/><cpix:BitrateFilter minBitrate="1"/>';
    expect(() => parseCpix(cpix({ rules: [{ kid: kid(1), type: 'VIDEO', filters }] }), '2.0')).not.toThrow();
  });
});

const MALFORMED = 'Malformed encryption contract';
const UNSUPPORTED = 'Requested CPIX encryption contract not supported';
const MISSING = 'Missing CPIX encryption contract';

describe('SPEKE v2 encryption contract: rejected with 422', () => {
  const cases: Array<[string, Doc, string, string]> = [
    [
      'no filter anywhere',
      { rules: [{ kid: kid(1), type: 'VIDEO', filters: '' }] },
      MISSING,
      'no ContentKeyUsageRule carries',
    ],
    [
      'a period without rules',
      { rules: rulesFor(['VIDEO'], 1, ['p1']), periods: ['p1', 'p2'] },
      MISSING,
      'ContentKeyPeriod "p2"',
    ],
    [
      'a key without rule',
      { rules: rulesFor(['VIDEO']), extraKeys: [kid(9)] },
      MALFORMED,
      `ContentKey KID ${kid(9)} has no ContentKeyUsageRule`,
    ],
    [
      'a video rule with an AudioFilter',
      { rules: [{ kid: kid(1), type: 'VIDEO', filters: '<cpix:AudioFilter/>' }] },
      MALFORMED,
      'must have one cpix:VideoFilter',
    ],
    [
      'an audio rule with a VideoFilter too',
      { rules: [{ kid: kid(1), type: 'AUDIO', filters: '<cpix:VideoFilter/><cpix:AudioFilter/>' }] },
      MALFORMED,
      'must have 1 cpix:AudioFilter and no cpix:VideoFilter',
    ],
    [
      'three VideoFilters for SD+HD1',
      {
        rules: [
          { kid: kid(1), type: 'SD+HD1', filters: '<cpix:VideoFilter/>'.repeat(3) },
          ...rulesFor(['HD2', 'UHD'], 2),
        ],
      },
      MALFORMED,
      'must have one cpix:VideoFilter or 2',
    ],
    [
      'ALL with bounds',
      { rules: [{ kid: kid(1), type: 'ALL', filters: '<cpix:VideoFilter maxPixels="1"/><cpix:AudioFilter/>' }] },
      MALFORMED,
      'both without attributes',
    ],
    [
      'ALL with two VideoFilters',
      { rules: [{ kid: kid(1), type: 'ALL', filters: '<cpix:VideoFilter/><cpix:VideoFilter/><cpix:AudioFilter/>' }] },
      MALFORMED,
      'exactly one cpix:VideoFilter',
    ],
    [
      'ALL next to another rule',
      { rules: rulesFor(['ALL', 'AUDIO']) },
      MALFORMED,
      'must be the only ContentKeyUsageRule',
    ],
    [
      'a repeated track type',
      { rules: rulesFor(['VIDEO', 'VIDEO']) },
      MALFORMED,
      'intendedTrackType VIDEO is used by more than one',
    ],
    [
      'one KID in two rules of a period',
      {
        rules: [
          { kid: kid(1), type: 'VIDEO' },
          { kid: kid(1), type: 'AUDIO' },
        ],
      },
      MALFORMED,
      `KID ${kid(1)} is used by more than one`,
    ],
    [
      'video and audio in one type',
      { rules: [{ kid: kid(1), type: 'SD+AUDIO', filters: '<cpix:VideoFilter/><cpix:AudioFilter/>' }] },
      MALFORMED,
      'mixes audio and video',
    ],
    ['a repeated component', { rules: [{ kid: kid(1), type: 'SD+SD' }] }, MALFORMED, 'repeats a track type'],
    [
      'a non-numeric bound',
      { rules: [{ kid: kid(1), type: 'VIDEO', filters: '<cpix:VideoFilter minPixels="-1"/>' }] },
      MALFORMED,
      'VideoFilter@minPixels "-1" is not a non-negative integer',
    ],
    [
      'min above max',
      { rules: [{ kid: kid(1), type: 'VIDEO', filters: '<cpix:VideoFilter minPixels="10" maxPixels="9"/>' }] },
      MALFORMED,
      'greater than @maxPixels 9',
    ],
    [
      'a bad hdr flag',
      { rules: [{ kid: kid(1), type: 'VIDEO', filters: '<cpix:VideoFilter hdr="yes"/>' }] },
      MALFORMED,
      'VideoFilter@hdr "yes" is not a boolean',
    ],
    ['an unknown track type', { rules: rulesFor(['HDR']) }, UNSUPPORTED, 'intendedTrackType "HDR"'],
    ['lower-case all', { rules: rulesFor(['all']) }, UNSUPPORTED, 'intendedTrackType "all"'],
    [
      'half a video preset',
      { rules: rulesFor(['SD', 'UHD']) },
      UNSUPPORTED,
      'video track types SD, UHD form no SPEKE v2 video preset',
    ],
    [
      'a combined type no preset has',
      { rules: rulesFor(['SD+HD', 'UHD']) },
      UNSUPPORTED,
      'video track types SD+HD, UHD',
    ],
    [
      'half an audio preset',
      { rules: rulesFor(['VIDEO', 'MULTICHANNEL_AUDIO']) },
      UNSUPPORTED,
      'audio track types MULTICHANNEL_AUDIO',
    ],
    [
      'presets from two families',
      { rules: rulesFor(['STEREO_AUDIO', 'MULTICHANNEL_AUDIO', 'MULTICHANNEL_AUDIO_7']) },
      UNSUPPORTED,
      'audio track types',
    ],
    [
      'a bad preset in the second period only',
      { rules: [...rulesFor(['VIDEO'], 1, ['p1']), ...rulesFor(['HD'], 2, ['p2'])], periods: ['p1', 'p2'] },
      UNSUPPORTED,
      'video track types HD in ContentKeyPeriod "p2"',
    ],
  ];

  it.each(cases)('%s', (_what, doc, message, reason) => {
    const got = rejection(cpix(doc));
    expect(got).toMatchObject({ status: 422, message });
    expect(got.reason).toContain(reason);
  });

  it('names the KID at fault in the details when there is one', () => {
    expect(rejection(cpix({ rules: rulesFor(['VIDEO']), extraKeys: [kid(9)] }))).toMatchObject({ kid: kid(9) });
  });
});

describe('SPEKE v2 request rules', () => {
  const ok = cpix({ rules: rulesFor(['VIDEO', 'AUDIO']) });
  const withRoot = (root: string) => ok.replace(/^<cpix:CPIX[^>]*>/, root);

  it.each([
    ['no contentId', `<cpix:CPIX version="2.3" ${NS_DECL}>`, 'Missing CPIX@contentId'],
    ['an empty contentId', `<cpix:CPIX contentId=" " version="2.3" ${NS_DECL}>`, 'Missing CPIX@contentId'],
    ['only the v1 id', `<cpix:CPIX id="abc" version="2.3" ${NS_DECL}>`, 'Missing CPIX@contentId'],
    ['no version', `<cpix:CPIX contentId="a" ${NS_DECL}>`, 'Missing CPIX@version'],
    ['version 2.4 for SPEKE 2.0', `<cpix:CPIX contentId="a" version="2.4" ${NS_DECL}>`, 'Unsupported CPIX@version'],
    ['version 2.0', `<cpix:CPIX contentId="a" version="2.0" ${NS_DECL}>`, 'Unsupported CPIX@version'],
  ])('rejects %s with 422', (_what, root, message) => {
    expect(rejection(withRoot(root))).toEqual({ status: 422, message });
  });

  it('pairs SPEKE 2.1 with CPIX 2.4 only', () => {
    expect(rejection(ok, '2.1')).toEqual({ status: 422, message: 'Unsupported CPIX@version' });
    expect(parseCpix(withRoot(`<cpix:CPIX contentId="a" version="2.4" ${NS_DECL}>`), '2.1').speke).toBe('2.1');
  });

  it('names the KID without commonEncryptionScheme', () => {
    const xml = ok.replace(
      `<cpix:ContentKey kid="${kid(2)}" commonEncryptionScheme="cenc"/>`,
      `<cpix:ContentKey kid="${kid(2)}"/>`,
    );
    expect(rejection(xml)).toEqual({
      status: 422,
      message: `Missing ContentKey@commonEncryptionScheme for KID ${kid(2)}`,
    });
  });

  it('rejects two schemes in one document', () => {
    const xml = ok.replace(
      `kid="${kid(2)}" commonEncryptionScheme="cenc"`,
      `kid="${kid(2)}" commonEncryptionScheme="cbcs"`,
    );
    expect(rejection(xml)).toEqual({
      status: 422,
      message: 'Non compliant ContentKey@commonEncryptionScheme combination',
    });
  });

  it('turns the shared structural errors into 422s but keeps malformed XML a 400', () => {
    const dup = ok.replace(
      '</cpix:ContentKeyList>',
      `<cpix:ContentKey kid="${kid(1)}" commonEncryptionScheme="cenc"/></cpix:ContentKeyList>`,
    );
    expect(() => parseCpix(dup, '2.0')).toThrow(UnprocessableError);
    expect(rejection(dup)).toEqual({ status: 422, message: `Duplicate ContentKey@kid ${kid(1)}` });
    expect(() => parseCpix(ok.slice(0, -10), '2.0')).toThrow(BadRequestError);
    expect(rejection(ok.slice(0, -10)).status).toBe(400);
  });

  it('keeps SPEKE v1 as it was: a v2 document read as v1 fails on CPIX@id with a 400', () => {
    expect(rejection(ok, '1.0')).toEqual({ status: 400, message: 'Missing CPIX@id' });
    expect(parseCpix(fixture('v1/hls-single-key.xml')).resourceId).toBe('MovieNight20171126093045');
  });

  it('reads contentId, version-matched keys, schemes and periods', () => {
    const req = parseCpix(cpix({ rules: rulesFor(['VIDEO'], 1, ['p1']), periods: ['p1'], scheme: 'cbcs' }), '2.0');
    expect(req).toMatchObject({ speke: '2.0', resourceId: 'unit-1', periods: [{ id: 'p1', index: 0 }] });
    expect(req.contentKeys.map((k) => k.scheme)).toEqual(['cbcs']);
  });
});

describe('checkDrmSchemes', () => {
  const request = (scheme: string, systemId: string) =>
    parseCpix(cpix({ rules: rulesFor(['ALL']), scheme }).replace(WIDEVINE, systemId), '2.0');
  const schemesOf = (id: string) => (id === FAIRPLAY ? (['cbcs'] as const) : undefined);

  it('accepts a scheme the system supports, and any scheme for a system without a list', () => {
    expect(() => checkDrmSchemes(request('cbcs', FAIRPLAY), schemesOf)).not.toThrow();
    expect(() => checkDrmSchemes(request('cens', WIDEVINE), schemesOf)).not.toThrow();
  });

  it("rejects FairPlay with cenc with AWS's message naming the system", () => {
    expect(() => checkDrmSchemes(request('cenc', FAIRPLAY), schemesOf)).toThrow(
      new UnprocessableError(`ContentKey@commonEncryptionScheme non compatible with DRMSystem ${FAIRPLAY}`),
    );
  });
});
