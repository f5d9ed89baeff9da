import { readmeBlocks, withStatusChecks } from '../helpers/readme-blocks';

const FENCE = '```';

describe('README block extraction (the marker convention of test/e2e/readme.test.ts)', () => {
  const md = [
    '## Start',
    '<!-- readme-test: skip needs AWS -->',
    `${FENCE}sh`,
    'aws ssm put-parameter',
    FENCE,
    '<!-- readme-test: server -->',
    `${FENCE}sh`,
    'KEYPLANE_X=1 npm start',
    FENCE,
    '### Use',
    `${FENCE}console`,
    '$ not run',
    FENCE,
    '<!-- readme-test: skip stale marker -->',
    'a paragraph between the marker and the block cancels it',
    `${FENCE}sh`,
    'curl -s $KP/healthz',
    FENCE,
  ].join('\n');

  it('takes sh blocks in order with their marker, section and line; other fences are not run', () => {
    expect(readmeBlocks(md)).toEqual([
      { kind: 'skip', line: 3, section: 'Start', code: 'aws ssm put-parameter', reason: 'needs AWS' },
      { kind: 'server', line: 7, section: 'Start', code: 'KEYPLANE_X=1 npm start', reason: '' },
      { kind: 'run', line: 16, section: 'Use', code: 'curl -s $KP/healthz', reason: undefined },
    ]);
  });

  it('turns a status comment into a check: piped for -w http_code, through the curl wrapper otherwise', () => {
    const code = [
      "curl -s -o /dev/null -w '%{http_code}\\n' $KP/x \\",
      '  -H a   # 403: refused',
      'curl -s $KP/y   # 404, gone',
      'echo 200   # 200 is not a curl status check',
    ].join('\n');
    expect(withStatusChecks(code).split('\n')).toEqual([
      "curl -s -o /dev/null -w '%{http_code}\\n' $KP/x \\",
      '  -H a | __expect_status 403   #: refused',
      'READMETEST_EXPECT=404 curl -s $KP/y   # 404, gone',
      'echo 200   # 200 is not a curl status check',
    ]);
  });
});
