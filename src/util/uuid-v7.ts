import { pooledRandomBytes } from './random-pool';

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Audit record ids are
 * the primary key of an index; random (v4) ids put every insert on a random page of it (8 pages written
 * per SPEKE request with 8 keys), while time-ordered ids append. Still unique and unguessable.
 */
export function uuidV7(now: number = Date.now()): string {
  const bytes = pooledRandomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  return formatUuid(bytes);
}

/** 16 bytes in the lower-case hyphenated 8-4-4-4-12 form. */
export function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
