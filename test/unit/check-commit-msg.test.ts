// The commit-msg check (scripts/check-commit-msg.js) that CONTRIBUTING.md asks contributors to enable.
const { problems } = require('../../scripts/check-commit-msg') as { problems: (message: string) => string[] };

describe('commit message check', () => {
  it('accepts a short subject, a blank line and a body', () => {
    expect(problems('Split the KMS cipher\n\nIt was over 300 lines.\n')).toEqual([]);
  });

  it('ignores comment lines and everything below the scissors line', () => {
    const message =
      'Subject\n# comment\n\nWhy.\n# ------------------------ >8 ------------------------\ndiff --git a b\n';
    expect(problems(message)).toEqual([]);
  });

  it('rejects a long subject, a missing blank line and a missing body', () => {
    expect(problems(`${'x'.repeat(73)}\n\nWhy.`)).toEqual([expect.stringContaining('73 characters')]);
    expect(problems('Subject\nWhy on the second line.')).toEqual([
      expect.stringContaining('second line must be blank'),
      expect.stringContaining('no body'),
    ]);
    expect(problems('Subject only\n')).toEqual([expect.stringContaining('no body')]);
    expect(problems('# only a comment\n')).toEqual(['the message is empty']);
  });

  it('lets merges and fixups go without a body', () => {
    expect(problems("Merge branch 'h11-base2'")).toEqual([]);
    expect(problems('fixup! Split the KMS cipher')).toEqual([]);
  });
});
