import { runHostileRounds, startHostileTarget } from '../helpers/hostile-input';
import { reportFigures } from '../helpers/report';

/** Rounds of every hostile case; KEYPLANE_HOSTILE_ROUNDS overrides. */
const ROUNDS = Number(process.env.KEYPLANE_HOSTILE_ROUNDS ?? 40);

describe('hostile input, repeated', () => {
  it(`answers ${ROUNDS} rounds of every hostile request with a small 4xx and keeps memory flat`, async () => {
    const { target, xxeHits, stop } = await startHostileTarget();
    try {
      const figures = await runHostileRounds(target, ROUNDS, xxeHits);
      reportFigures('hostile-input', { ...figures });
      expect(figures.xxeFetches).toBe(0);
      expect(figures.maxResponseBytes).toBeLessThan(4096);
      expect(figures.rssKiBAfter - figures.rssKiBBefore).toBeLessThan(100 * 1024);
    } finally {
      await stop();
    }
  });
});
