import { uuidV7 } from '../../../src/util/uuid-v7';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('makes ids of one millisecond in increasing order, all distinct and well-formed', () => {
    const ms = Date.parse('2026-12-08T01:00:00Z');
    const ids = Array.from({ length: 5000 }, () => uuidV7(ms));
    for (const id of ids) expect(id).toMatch(V7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => id.replace(/-/g, '').startsWith(ms.toString(16).padStart(12, '0')))).toBe(true);
  });

  it('orders by millisecond first, and starts each millisecond at a random point', () => {
    const ms = Date.parse('2026-12-08T01:00:01Z');
    const a = uuidV7(ms);
    const b = uuidV7(ms + 1);
    const c = uuidV7(ms + 2);
    expect([a, b, c].sort()).toEqual([a, b, c]);
    const firsts = new Set(Array.from({ length: 32 }, (_, i) => uuidV7(ms + 10 + i).slice(14)));
    expect(firsts.size).toBe(32);
  });
});
