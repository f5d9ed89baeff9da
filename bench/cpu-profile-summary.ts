import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';

// Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and self time per area
// (Keyplane source file, npm package, Node internals, GC, idle). Usage:
//   node dist/bench/cpu-profile-summary.js <file.cpuprofile> [top=25]

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per profile node id, in microseconds. */
export function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  return self;
}

/** Where a frame's code lives: a Keyplane file, an npm package, Node internals or a V8 pseudo-frame. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const own = /\/dist\/(src\/.+)\.js$/.exec(url);
  if (own) return `${own[1]}.ts`;
  if (url.startsWith('node:')) return 'node internals';
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native (V8 builtins, C++ addons)';
  return path.basename(url);
}

const sourceMaps = new Map<string, SourceMap | undefined>();

function sourceMapFor(file: string): SourceMap | undefined {
  if (!sourceMaps.has(file)) {
    let map: SourceMap | undefined;
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = undefined;
    }
    sourceMaps.set(file, map);
  }
  return sourceMaps.get(file);
}

/** The 1-based line of a frame, mapped back to the TypeScript source for Keyplane's own compiled files. */
function sourceLine(frame: CallFrame): number {
  const file = frame.url.replace(/^file:\/\//, '');
  const entry = areaOf(frame).startsWith('src/')
    ? sourceMapFor(file)?.findEntry(frame.lineNumber, frame.columnNumber)
    : undefined;
  const original = (entry as { originalLine?: number } | undefined)?.originalLine;
  return original === undefined ? frame.lineNumber + 1 : original + 1;
}

function frameLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name} — ${areaOf(frame)}:${sourceLine(frame)}`;
}

function addTo(totals: Map<string, number>, key: string, micros: number): void {
  totals.set(key, (totals.get(key) ?? 0) + micros);
}

function table(title: string, totals: Map<string, number>, all: number, top: number, unit = 'self ms'): string {
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `| ${title} | ${unit} | % of busy |`,
    '|---|---:|---:|',
    ...rows.map(
      ([k, us]) => `| ${k.replace(/\|/g, '\\|')} | ${(us / 1000).toFixed(0)} | ${((us / all) * 100).toFixed(1)} |`,
    ),
  ].join('\n');
}

/** Total (inclusive) time per Keyplane function: each sample counts once for every distinct src/ function on its stack. */
export function keyplaneInclusive(profile: CpuProfile): Map<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = (byId.get(cur) as ProfileNode).callFrame;
      if (areaOf(frame).startsWith('src/')) seen.add(frameLabel(frame));
    }
    for (const label of seen) addTo(totals, label, profile.timeDeltas[i] ?? 0);
  });
  return totals;
}

/** Markdown tables: self time by function and by area; idle time is counted but excluded from the percentages. */
export function summarize(profile: CpuProfile, top = 25): string {
  const self = selfTimes(profile);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const micros = self.get(node.id) ?? 0;
    if (micros === 0) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    busy += micros;
    addTo(byFunction, frameLabel(node.callFrame), micros);
    addTo(byArea, areaOf(node.callFrame), micros);
  }
  return [
    `Busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms (percentages are of busy time).`,
    '',
    table('Function (self time)', byFunction, busy, top),
    '',
    table('Area (self time)', byArea, busy, top),
    '',
    table('Keyplane function (total time, incl. callees)', keyplaneInclusive(profile), busy, top, 'total ms'),
    '',
  ].join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpu-profile-summary.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(summarize(profile, top ? Number(top) : 25));
}
