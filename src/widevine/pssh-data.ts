/**
 * Reads the `WidevinePsshData` protobuf that Shaka Packager sends as `pssh_data` when it decrypts
 * (`--enable_widevine_decryption`): the key IDs (field 2) and the content ID (field 4). Other fields are skipped.
 * Linear in the input; every length is checked against what is left.
 */
import { WidevineStatusError } from './cenc-status';

/** What a key request by `pssh_data` names. */
export interface PsshDataKeys {
  keyIds: Buffer[];
  contentId?: Buffer;
}

/** Most key IDs one `pssh_data` may name (the most keys one content-ID request answers). */
const MAX_KEY_IDS = 60;
const malformed = (what: string) => new WidevineStatusError('INVALID_WIDEVINE_PSSH', `pssh_data: ${what}`);

/** A cursor over protobuf bytes. */
class Reader {
  at = 0;
  constructor(private readonly bytes: Buffer) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.bytes[this.at++];
      if (byte === undefined) throw malformed('a varint runs past the end');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw malformed('a varint is longer than 5 bytes');
  }

  take(length: number): Buffer {
    if (length > this.bytes.length - this.at) throw malformed('a field runs past the end');
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }
}

/** The key IDs and content ID of a serialized `WidevinePsshData`. */
export function readWidevinePsshData(bytes: Buffer): PsshDataKeys {
  const reader = new Reader(bytes);
  const keyIds: Buffer[] = [];
  let contentId: Buffer | undefined;
  while (!reader.done) {
    const key = reader.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) reader.varint();
    else if (wire === 1) reader.take(8);
    else if (wire === 5) reader.take(4);
    else if (wire === 2) {
      const value = reader.take(reader.varint());
      if (field === 2) {
        if (value.length !== 16) throw malformed('a key_id is not 16 bytes');
        if (keyIds.length === MAX_KEY_IDS) throw malformed(`more than ${MAX_KEY_IDS} key_ids`);
        keyIds.push(value);
      } else if (field === 4) contentId = value;
    } else throw malformed(`unsupported wire type ${wire}`);
  }
  if (keyIds.length === 0) throw malformed('no key_id');
  return { keyIds, ...(contentId ? { contentId } : {}) };
}
