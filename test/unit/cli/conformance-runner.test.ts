import { AuthRejectedError } from '../../../src/cli/cli-errors';
import { buildCpixRequest } from '../../../src/cli/cpix-request-builder';
import { readCpixResponse } from '../../../src/cli/cpix-response-reader';
import { expectPreserved } from '../../../src/cli/conformance/assertions';
import { battery } from '../../../src/cli/conformance/battery';
import {
  CheckFailedError,
  CheckSkippedError,
  pass,
  type Check,
  type ConformanceContext,
} from '../../../src/cli/conformance/check';
import { summarize, tableReport } from '../../../src/cli/conformance/reporters';
import { runChecks, type Progress } from '../../../src/cli/conformance/runner';
import { serializeXml } from '../../../src/cpix/xml-serialize';

const quiet: Progress = { start: () => undefined, done: () => undefined, finish: () => undefined };
const ctx = {} as ConformanceContext;

function check(name: string, run: () => Promise<never> | Promise<ReturnType<typeof pass>>): Check {
  return { name, category: 'keys', speke: '1.0', description: name, run };
}

describe('the conformance runner', () => {
  it('turns assertion failures, skips and unexpected errors into results and keeps going', async () => {
    const reports = await runChecks(
      [
        check('ok', async () => pass('fine')),
        check('bad', async () => Promise.reject(new CheckFailedError('keys differ'))),
        check('skipped', async () => Promise.reject(new CheckSkippedError('xmllint not found'))),
        check('crashed', async () => Promise.reject(new Error('boom'))),
      ],
      ctx,
      quiet,
    );
    expect(reports.map((r) => [r.name, r.status, r.detail])).toEqual([
      ['ok', 'pass', 'fine'],
      ['bad', 'fail', 'keys differ'],
      ['skipped', 'skip', 'xmllint not found'],
      ['crashed', 'fail', 'boom'],
    ]);
    expect(summarize(reports)).toEqual({ total: 4, passed: 1, failed: 2, skipped: 1 });
    expect(tableReport('http://x/copyProtection', reports)).toMatch(
      /Failed checks:\n {2}bad: keys differ\n {2}crashed: boom/,
    );
  });

  it('aborts the run when the provider rejects the credentials', async () => {
    const run = runChecks([check('auth', async () => Promise.reject(new AuthRejectedError(401, 'no')))], ctx, quiet);
    await expect(run).rejects.toBeInstanceOf(AuthRejectedError);
  });

  it('selects checks by version, DRM system and --only', () => {
    const v1 = battery(['1.0'], ['widevine']).map((c) => c.name);
    expect(v1).toContain('v1.drm.widevine');
    expect(v1).not.toContain('v1.drm.fairplay');
    expect(v1.every((n) => n.startsWith('v1.'))).toBe(true);
    expect(battery(['2.0'], ['fairplay']).map((c) => c.name)).toContain('v2.reject.fairplay-with-cenc');
    expect(battery(['1.0', '2.0'], ['widevine'], ['key-stability']).map((c) => c.name)).toEqual([
      'v1.key-stability',
      'v2.key-stability',
    ]);
  });
});

describe('document preservation', () => {
  const built = buildCpixRequest({ speke: '2.0', resourceId: 'doc-1', drms: ['widevine'] });

  it('passes when the response only adds to the request', () => {
    expect(() => expectPreserved(built.root, readCpixResponse(built.xml), '2.0')).not.toThrow();
  });

  it('names a lost element or attribute, and a new top-level list', () => {
    const lostFilter = built.xml.replace('<cpix:AudioFilter/>', '');
    expect(() => expectPreserved(built.root, readCpixResponse(lostFilter), '2.0')).toThrow(
      /lost cpix:CPIX\/cpix:ContentKeyUsageRuleList\/cpix:ContentKeyUsageRule\[@kid=[-0-9a-f]+\]\/cpix:AudioFilter of/,
    );
    const lostScheme = built.xml.replace(/ commonEncryptionScheme="cenc"/, '');
    expect(() => expectPreserved(built.root, readCpixResponse(lostScheme), '2.0')).toThrow(
      /lost cpix:CPIX\/cpix:ContentKeyList\/cpix:ContentKey\[@kid=[-0-9a-f]+\]\/@commonEncryptionScheme of/,
    );
    const added = built.xml.replace('</cpix:CPIX>', '<cpix:UpdateHistoryItemList/></cpix:CPIX>');
    expect(() => expectPreserved(built.root, readCpixResponse(added), '2.0')).toThrow(
      'the response adds a top-level cpix:UpdateHistoryItemList',
    );
  });

  it('lets a SPEKE v1 answer drop DRMSystem placeholders, as AWS examples do', () => {
    const v1 = buildCpixRequest({ speke: '1.0', resourceId: 'doc-2', drms: ['hls-aes128'] });
    const trimmed = serializeXml(v1.root).replace('<speke:KeyFormatVersions/>', '');
    expect(() => expectPreserved(v1.root, readCpixResponse(trimmed), '1.0')).not.toThrow();
  });
});
