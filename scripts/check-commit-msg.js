#!/usr/bin/env node
'use strict';
// Checks a commit message against the house habit (CONTRIBUTING.md): a subject of at most 72 characters,
// a blank line, then a body that says why. Merge, fixup!, squash! and amend! commits need no body.
//   node scripts/check-commit-msg.js <message-file>    (what the commit-msg hook runs)
//   node scripts/check-commit-msg.js --range A..B       (every commit in a range, e.g. before a push)
// Enable the hook once per clone: git config core.hooksPath scripts/git-hooks
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

const MAX_SUBJECT = 72;

/** The message as git stores it: no comment lines, nothing below a `git commit -v` scissors line. */
function cleaned(message) {
  const lines = [];
  for (const line of message.replace(/\r\n/g, '\n').split('\n')) {
    if (/^# -+ >8 -+$/.test(line)) break;
    if (!line.startsWith('#')) lines.push(line.trimEnd());
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  while (lines.length > 0 && lines[0] === '') lines.shift();
  return lines;
}

/** What is wrong with a commit message (empty: nothing). */
function problems(message) {
  const lines = cleaned(message);
  const subject = lines[0] ?? '';
  if (subject === '') return ['the message is empty'];
  const found = [];
  if (subject.length > MAX_SUBJECT) {
    found.push(`the subject has ${subject.length} characters; keep it to ${MAX_SUBJECT} (details go in the body)`);
  }
  if (lines.length > 1 && lines[1] !== '') found.push('the second line must be blank (it separates subject and body)');
  const exempt = /^(Merge |fixup! |squash! |amend! )/.test(subject);
  if (!exempt && lines.slice(2).every((line) => line === '')) {
    found.push('there is no body: after a blank line, say why the change is made');
  }
  return found;
}

function report(label, found) {
  for (const problem of found) process.stderr.write(`${label}: ${problem}\n`);
}

function main(args) {
  if (args[0] === '--range' && args[1]) {
    const git = (...a) => execFileSync('git', a, { encoding: 'utf8' });
    let failed = false;
    for (const sha of git('rev-list', '--reverse', args[1]).split('\n').filter(Boolean)) {
      const found = problems(git('log', '-1', '--format=%B', sha));
      report(`commit ${sha.slice(0, 10)}`, found);
      failed ||= found.length > 0;
    }
    return failed ? 1 : 0;
  }
  if (args.length !== 1) {
    process.stderr.write('usage: check-commit-msg.js <message-file> | --range <rev-range>\n');
    return 2;
  }
  const found = problems(fs.readFileSync(args[0], 'utf8'));
  report('commit message', found);
  return found.length > 0 ? 1 : 0;
}

module.exports = { problems, MAX_SUBJECT };

if (require.main === module) process.exit(main(process.argv.slice(2)));
