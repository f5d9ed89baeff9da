import { pooledRandomBytes } from './random-pool';

/** The 74 bits after the timestamp, version and variant: rand_a (12) then rand_b (62). */
const TAIL_BITS = 74n;
const RAND_B_BITS = 62n;
const RAND_B_MASK = (1n << RAND_B_BITS) - 1n;
/** Largest step between two ids of one millisecond: they stay ordered and still unguessable. */
const MAX_STEP = 1n << 32n;

/** The last id's millisecond and tail, so ids of one millisecond are made in increasing order. */
let last = { ms: -1, tail: 0n };

function randomTail(bytes: Buffer): bigint {
  // The top bit stays clear: 2^73 of headroom for the steps of one millisecond.
  const high = BigInt(bytes.readUInt32BE(0) & 0x1ff); // 9 bits
  return (high << 64n) | bytes.readBigUInt64BE(4);
}

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 bits that are random for a new
 * millisecond and, within one, the previous id's plus a random step (RFC 9562 §6.2, method 2), so ids
 * of one process sort in the order they were made. Audit record ids are the primary key of an index;
 * random (v4) ids put every insert on a random page of it, while time-ordered ids append. Still unique
 * and unguessable.
 */
export function uuidV7(now: number = Date.now()): string {
  const random = pooledRandomBytes(16);
  let tail = randomTail(random);
  if (now === last.ms && last.tail < (1n << TAIL_BITS) - MAX_STEP - 1n) {
    tail = last.tail + 1n + (BigInt(random.readUInt32BE(12)) % MAX_STEP);
  }
  last = { ms: now, tail };
  const randA = Number(tail >> RAND_B_BITS);
  const randB = tail & RAND_B_MASK;
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (randA >> 8);
  bytes[7] = randA & 0xff;
  bytes.writeBigUInt64BE(randB, 8);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  return formatUuid(bytes);
}

/** 16 bytes in the lower-case hyphenated 8-4-4-4-12 form. */
export function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
