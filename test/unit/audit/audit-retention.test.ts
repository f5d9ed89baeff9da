import { auditCutoff, expiresAtSeconds, retentionDaysOf, withinRetention } from '../../../src/audit/audit-retention';

const DAY_MS = 24 * 3600 * 1000;
const NOW = new Date('2026-03-10T12:00:00.000Z');

describe('audit retention', () => {
  it('turns the setting into store days: forever is no limit', () => {
    expect(retentionDaysOf(90)).toBe(90);
    expect(retentionDaysOf('forever')).toBeUndefined();
  });

  it('puts the cutoff the retention before now, and none for forever', () => {
    expect(auditCutoff(30, NOW)).toEqual(new Date(NOW.getTime() - 30 * DAY_MS));
    expect(auditCutoff(undefined, NOW)).toBeUndefined();
  });

  it('raises since (or sets it) to the cutoff, and leaves later bounds and cursors alone', () => {
    const cutoff = new Date(NOW.getTime() - DAY_MS);
    const cursor = { time: new Date(0), id: 'x' };
    expect(withinRetention({ limit: 5, cursor }, cutoff)).toEqual({ limit: 5, cursor, since: cutoff });
    expect(withinRetention({ limit: 5, since: new Date(0) }, cutoff)).toEqual({ limit: 5, since: cutoff });
    const later = { limit: 5, since: NOW };
    expect(withinRetention(later, cutoff)).toBe(later);
    const unbounded = { limit: 5 };
    expect(withinRetention(unbounded, undefined)).toBe(unbounded);
  });

  it('expires a record the retention after its time, in epoch seconds rounded up (never before the cutoff)', () => {
    expect(expiresAtSeconds(new Date(1_000_000), 1)).toBe(1000 + 86_400);
    expect(expiresAtSeconds(new Date(1_000_001), 1)).toBe(1001 + 86_400);
  });
});
