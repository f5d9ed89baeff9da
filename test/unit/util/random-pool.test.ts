import crypto from 'node:crypto';
import { pooledRandomBytes } from '../../../src/util/random-pool';
import { uuidV7 } from '../../../src/util/uuid-v7';

describe('pooledRandomBytes', () => {
  it('gives the size asked, and no two results share bytes over many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const bytes = pooledRandomBytes(16);
      expect(bytes.length).toBe(16);
      seen.add(bytes.toString('hex'));
    }
    // 2000 × 16 bytes is 8 refills of the 4 KiB block: a block handed out twice would repeat values.
    expect(seen.size).toBe(2000);
  });

  it('returns copies: changing one result changes no other, and none is all zeros', () => {
    const a = pooledRandomBytes(12);
    const b = pooledRandomBytes(12);
    const before = Buffer.from(b);
    a.fill(0xff);
    expect(b).toEqual(before);
    expect(b.equals(Buffer.alloc(12))).toBe(false);
  });

  it('looks uniform: every bit is set about half the time', () => {
    const ones = new Array<number>(128).fill(0);
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const bytes = pooledRandomBytes(16);
      for (let bit = 0; bit < 128; bit++)
        ones[bit] = (ones[bit] as number) + ((bytes[bit >> 3] as number) & (0x80 >> (bit & 7)) ? 1 : 0);
    }
    // Binomial(4000, 0.5): standard deviation ~32; 6 sigma either side.
    for (const count of ones) expect(Math.abs(count - n / 2)).toBeLessThan(190);
  });

  it('serves sizes above a quarter of the block straight from the CSPRNG, and refuses a non-size', () => {
    const spy = jest.spyOn(crypto, 'randomBytes');
    expect(pooledRandomBytes(2048).length).toBe(2048);
    expect(spy).toHaveBeenCalledWith(2048);
    spy.mockRestore();
    expect(pooledRandomBytes(0).length).toBe(0);
    expect(() => pooledRandomBytes(-1)).toThrow(RangeError);
    expect(() => pooledRandomBytes(1.5)).toThrow(RangeError);
  });
});

describe('uuidV7', () => {
  it('is an RFC 9562 version 7 UUID carrying the millisecond time', () => {
    const now = Date.parse('2026-12-07T14:00:00.123Z');
    const id = uuidV7(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
  });

  it('sorts by time, so index inserts append, and stays unique within one millisecond', () => {
    const ids = [uuidV7(1_000), uuidV7(2_000), uuidV7(2_001), uuidV7(1_796_000_000_000)];
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 1000 }, () => uuidV7(5_000)));
    expect(same.size).toBe(1000);
  });
});
