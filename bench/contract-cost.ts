import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseCpix } from '../src/cpix/parse-cpix';
import { machineInfo } from './report';

// `npm run bench:contract-cost`: what a 1 MB SPEKE v2 request costs to refuse when its usage rules apply
// to every period (no KeyPeriodFilter: 11,300 periods × 4,700 rules), next to the baseline of a request of
// the same size whose rules each name one period. Each case runs in a child process of its own, so its
// RSS growth is its own.

const KID = '11111111-2222-4333-8444-555555555555';
const HLS = '81376844-f976-481e-a84e-cc25d39b0b33';
const PERIODS = 11_300;
const RULES = 4_700;

function document(everywhere: boolean): string {
  const periods = Array.from({ length: PERIODS }, (_, i) => `<ContentKeyPeriod id="${i.toString(36)}" index="${i}"/>`);
  const filter = (i: number) => (everywhere ? '' : `<KeyPeriodFilter periodId="${i.toString(36)}"/>`);
  const rules = Array.from(
    { length: RULES },
    (_, i) =>
      `<ContentKeyUsageRule kid="${KID}" intendedTrackType="SD">${filter(i)}<VideoFilter/></ContentKeyUsageRule>`,
  );
  return (
    `<CPIX xmlns="urn:dashif:org:cpix" contentId="x" version="2.3"><ContentKeyList><ContentKey kid="${KID}" ` +
    `commonEncryptionScheme="cbcs"/></ContentKeyList><DRMSystemList><DRMSystem kid="${KID}" systemId="${HLS}"/>` +
    `</DRMSystemList><ContentKeyPeriodList>${periods.join('')}</ContentKeyPeriodList>` +
    `<ContentKeyUsageRuleList>${rules.join('')}</ContentKeyUsageRuleList></CPIX>`
  );
}

/** One case in this process: parse (and check) the document, report time, RSS growth and the answer. */
function runCase(everywhere: boolean): void {
  const doc = document(everywhere);
  const rss = process.memoryUsage().rss;
  const start = performance.now();
  let answer = 'parsed';
  try {
    parseCpix(doc, '2.0');
  } catch (err) {
    answer = `${(err as { status?: number }).status} ${(err as Error).message}`;
  }
  const ms = performance.now() - start;
  const growth = (process.memoryUsage().rss - rss) / 1048576;
  process.stdout.write(JSON.stringify({ bytes: Buffer.byteLength(doc), ms, growth, answer }));
}

function main(): void {
  const which = process.argv[2];
  if (which === 'everywhere' || which === 'per-period') return runCase(which === 'everywhere');
  console.log(`machine: ${JSON.stringify(machineInfo())}`);
  console.log('| case | bytes | ms | RSS growth MiB | answer |');
  console.log('|---|---:|---:|---:|---|');
  for (const name of ['per-period', 'everywhere', 'per-period', 'everywhere']) {
    const run = spawnSync(process.execPath, [__filename, name], { encoding: 'utf8' });
    const r = JSON.parse(run.stdout) as { bytes: number; ms: number; growth: number; answer: string };
    const label = name === 'per-period' ? 'baseline: each rule names a period' : 'rules in every period';
    console.log(`| ${label} | ${r.bytes} | ${r.ms.toFixed(0)} | ${r.growth.toFixed(0)} | ${r.answer} |`);
  }
}

main();
