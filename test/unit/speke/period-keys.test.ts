import { parseCpix } from '../../../src/cpix/parse-cpix';
import { periodAliasKid, periodKeyAliases } from '../../../src/speke/period-keys';
import { fixture } from '../../helpers/fixtures';

describe('period key aliases', () => {
  it('are UUIDs that differ by resource, clock, start and track type', () => {
    const a = periodAliasKid('r', 'live', 1000, 'ALL');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(periodAliasKid('r', 'live', 1000, 'ALL')).toBe(a);
    for (const other of [
      periodAliasKid('r2', 'live', 1000, 'ALL'),
      periodAliasKid('r', 'vod', 1000, 'ALL'),
      periodAliasKid('r', 'live', 1001, 'ALL'),
      periodAliasKid('r', 'live', 1000, 'SD'),
    ])
      expect(other).not.toBe(a);
  });

  it('name one alias per key of a time-named period; none for index-only periods or v2.0', () => {
    const timed = parseCpix(fixture('v2/timing-2.1/start-end-only.xml'), '2.1');
    const aliases = periodKeyAliases(timed);
    expect(aliases.size).toBe(3);
    expect(new Set(aliases.values()).size).toBe(3);
    expect(periodKeyAliases(parseCpix(fixture('v2/timing-2.1/index-only.xml'), '2.1')).size).toBe(0);
    const v20 = fixture('v2/timing-2.1/index-with-start-end.xml').replace('version="2.4"', 'version="2.3"');
    expect(periodKeyAliases(parseCpix(v20, '2.0')).size).toBe(0);
  });
});
