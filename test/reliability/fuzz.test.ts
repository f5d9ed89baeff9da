import { fuzzApp } from '../helpers/fuzz-harness';
import { reportFigures } from '../helpers/report';

/** Fuzz cases for the reliability run; KEYPLANE_FUZZ_RUNS overrides (CI may lower it). */
const RUNS = Number(process.env.KEYPLANE_FUZZ_RUNS ?? 100_000);

describe('fuzzing the HTTP API', () => {
  it(`answers ${RUNS} random, mutated and generated requests without a 5xx or a store change on rejection`, async () => {
    const figures = await fuzzApp(RUNS);
    reportFigures('fuzz', { ...figures });
    expect(figures.rejectedChecked).toBeGreaterThan(RUNS / 2);
    expect(figures.storeWritingCases).toBeGreaterThan(0);
  }, 1_800_000);
});
