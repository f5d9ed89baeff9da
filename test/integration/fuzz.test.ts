import { fuzzApp } from '../helpers/fuzz-harness';
import { reportFigures } from '../helpers/report';

/** The fast slice of the reliability fuzzing (`npm run test:reliability` runs 100k cases). */
const RUNS = 2000;

describe('fuzzing the HTTP API (fast slice)', () => {
  it(`answers ${RUNS} random, mutated and generated requests without a 5xx or a store change on rejection`, async () => {
    const figures = await fuzzApp(RUNS);
    reportFigures('fuzz-quick', { ...figures });
    expect(figures.rejectedChecked).toBeGreaterThan(RUNS / 2);
    expect(figures.storeWritingCases).toBeGreaterThan(0);
  });
});
