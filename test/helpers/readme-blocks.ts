/** What the README test does with a shell block (see the marker convention in test/e2e/readme.test.ts). */
export type BlockKind = 'run' | 'server' | 'skip';

/** One ```sh block of README.md, with the marker in the HTML comment just before it. */
export interface ReadmeBlock {
  kind: BlockKind;
  /** 1-based line of the opening fence, for failure messages. */
  line: number;
  /** The nearest `##`/`###` heading above the block. */
  section: string;
  code: string;
  /** Why a `skip` block is not run. */
  reason?: string;
}

const MARKER = /^<!--\s*readme-test:\s*(server|skip)\b\s*(.*?)\s*-->$/;

/** Splits the README into its ```sh blocks in order; other fences (```console, ```xml…) are documentation only. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  let section = '(top)';
  let marker: { kind: BlockKind; reason: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^#{2,3} /.test(line)) section = line.replace(/^#+ /, '');
    const m = MARKER.exec(line.trim());
    if (m) {
      marker = { kind: m[1] as BlockKind, reason: m[2] ?? '' };
      continue;
    }
    if (line.startsWith('```')) {
      const lang = line.slice(3).trim();
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
      if (lang === 'sh') {
        const kind = marker?.kind ?? 'run';
        blocks.push({ kind, line: start + 1, section, code: body.join('\n'), reason: marker?.reason });
      }
      marker = undefined;
      continue;
    }
    if (line.trim() !== '') marker = undefined;
  }
  return blocks;
}

/**
 * Makes a block's expectations executable: a command whose last line ends in a comment starting with an
 * HTTP status (`… -w '%{http_code}\n' …   # 403: why`) must print exactly that status; a one-line `curl` with such
 * a comment must get that status (the test's `curl` wrapper checks it; any other curl fails on a status ≥ 400).
 */
export function withStatusChecks(code: string): string {
  const lines = code.split('\n');
  return lines
    .map((line, i) => {
      const m = /^(.*\S)\s+#\s*(\d{3})\b(.*)$/.exec(line);
      if (!m) return line;
      let start = i;
      while (start > 0 && (lines[start - 1] ?? '').trimEnd().endsWith('\\')) start--;
      const command = lines.slice(start, i + 1).join('\n');
      if (command.includes('%{http_code}')) return `${m[1] ?? ''} | __expect_status ${m[2] ?? ''}   #${m[3] ?? ''}`;
      if (start === i && /^curl /.test(line)) return `READMETEST_EXPECT=${m[2]} ${line}`;
      return line;
    })
    .join('\n');
}
