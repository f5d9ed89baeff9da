import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { associatedData } from '../../../src/keys/envelope-cipher';
import { KeyUnsealError } from '../../../src/keys/envelope-cipher-errors';
import { LocalEnvelopeCipher, loadOrCreateMasterKey, localCipherFor } from '../../../src/keys/local-cipher';
import { masterKeyFingerprint, MasterKeyRing, readMasterKeys } from '../../../src/keys/master-key-ring';
import {
  deletePreviousMasterKey,
  lockRotation,
  RotationLockedError,
  swapInNewMasterKey,
} from '../../../src/keys/master-key-rotation';

const ctx = { resourceId: 'r1', kid: 'k1' };
const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-ring-'));

/** A value in the format before key ids (2): version ‖ nonce ‖ tag ‖ ciphertext. */
function legacySeal(key: Buffer, plain: Buffer): Buffer {
  const nonce = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(associatedData(ctx));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.of(2), nonce, c.getAuthTag(), body]);
}

describe('master key ring and rotation of the key files', () => {
  it('seals format 3 naming the master key fingerprint, and still opens format 2', async () => {
    const d = dir();
    const key = loadOrCreateMasterKey(d);
    const cipher = localCipherFor(d);
    const sealed = await cipher.seal(Buffer.alloc(32, 1), ctx);
    expect(sealed[0]).toBe(3);
    expect(cipher.sealedBy(sealed)).toBe(masterKeyFingerprint(key));
    expect(sealed.subarray(1, 9).toString('hex')).toBe(masterKeyFingerprint(key));
    const legacy = legacySeal(key, Buffer.alloc(32, 2));
    expect(cipher.sealedBy(legacy)).toBeUndefined();
    expect(await cipher.open(legacy, ctx)).toEqual(Buffer.alloc(32, 2));
  });

  it('a swap makes the new key seal at once in a running cipher; old values open until the key is deleted', async () => {
    const d = dir();
    const oldKey = loadOrCreateMasterKey(d);
    const cipher = localCipherFor(d);
    const before = await cipher.seal(Buffer.alloc(32, 3), ctx);
    const legacy = legacySeal(oldKey, Buffer.alloc(32, 4));
    const swap = swapInNewMasterKey(d);
    expect(swap.previous).toBe(masterKeyFingerprint(oldKey));
    expect(swap.current).not.toBe(swap.previous);
    expect(fs.statSync(path.join(d, `master.${swap.previous}.key`)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(d, 'master.key')).mode & 0o777).toBe(0o600);
    const after = await cipher.seal(Buffer.alloc(32, 5), ctx);
    expect(cipher.sealedBy(after)).toBe(swap.current);
    expect(await cipher.open(before, ctx)).toEqual(Buffer.alloc(32, 3));
    expect(await cipher.open(legacy, ctx)).toEqual(Buffer.alloc(32, 4));
    // A fresh process (new ring) reads both files.
    const fresh = new LocalEnvelopeCipher(new MasterKeyRing(d));
    expect(await fresh.open(before, ctx)).toEqual(Buffer.alloc(32, 3));
    expect(await fresh.open(after, ctx)).toEqual(Buffer.alloc(32, 5));
    deletePreviousMasterKey(d, swap.previous);
    const retired = new LocalEnvelopeCipher(new MasterKeyRing(d));
    await expect(retired.open(before, ctx)).rejects.toThrow(`its master key ${swap.previous} is not in the data dir`);
    await expect(retired.open(legacy, ctx)).rejects.toBeInstanceOf(KeyUnsealError);
    expect(readMasterKeys(d).previous).toEqual([]);
  });

  it('checks master.key once per synchronous run of seals, and a swap counts from the next run', async () => {
    const d = dir();
    loadOrCreateMasterKey(d);
    const cipher = localCipherFor(d);
    await cipher.seal(Buffer.alloc(32), ctx);
    const stat = jest.spyOn(fs, 'statSync');
    // The 8 seals of one SPEKE request start in one synchronous run (Promise.all over the new keys).
    const burst = await Promise.all(Array.from({ length: 8 }, () => cipher.seal(Buffer.alloc(32, 6), ctx)));
    expect(stat).toHaveBeenCalledTimes(1);
    const swap = swapInNewMasterKey(d);
    const next = await Promise.all(Array.from({ length: 8 }, () => cipher.seal(Buffer.alloc(32, 7), ctx)));
    stat.mockRestore();
    expect(new Set(burst.map((s) => cipher.sealedBy(s)))).toEqual(new Set([swap.previous]));
    expect(new Set(next.map((s) => cipher.sealedBy(s)))).toEqual(new Set([swap.current]));
  });

  it('a re-read that fails is tried again on the next run, not taken as done while the old key seals on', async () => {
    const d = dir();
    loadOrCreateMasterKey(d);
    const cipher = localCipherFor(d);
    await cipher.seal(Buffer.alloc(32), ctx);
    const swap = swapInNewMasterKey(d);
    // A stray key file others may read makes every read of the data dir's keys fail for now.
    const stray = path.join(d, `master.${'0'.repeat(16)}.key`);
    fs.writeFileSync(stray, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o644 });
    fs.chmodSync(stray, 0o644);
    expect(cipher.sealedBy(await cipher.seal(Buffer.alloc(32, 1), ctx))).toBe(swap.previous);
    fs.rmSync(stray);
    expect(cipher.sealedBy(await cipher.seal(Buffer.alloc(32, 2), ctx))).toBe(swap.current);
  });

  it('refuses a kept key file whose name does not match its key', () => {
    const d = dir();
    loadOrCreateMasterKey(d);
    const other = crypto.randomBytes(32);
    fs.writeFileSync(path.join(d, 'master.0000000000000000.key'), other.toString('base64'), { mode: 0o600 });
    expect(() => readMasterKeys(d)).toThrow(/master.0000000000000000.key holds the master key [0-9a-f]{16}, not 0{16}/);
  });
});

describe('a rotation interrupted while swapping the key files', () => {
  it('a crash after the old key was kept but before master.key was replaced loses nothing and rotates on re-run', async () => {
    const d = dir();
    const oldKey = loadOrCreateMasterKey(d);
    const fp = masterKeyFingerprint(oldKey);
    const sealed = await localCipherFor(d).seal(Buffer.alloc(32, 9), ctx);
    // What step 1 leaves when killed between its two writes: the old key in both files.
    fs.writeFileSync(path.join(d, `master.${fp}.key`), `${oldKey.toString('base64')}\n`, { mode: 0o600 });
    expect(readMasterKeys(d)).toEqual({ current: { fingerprint: fp, key: oldKey }, previous: [] });
    expect(await localCipherFor(d).open(sealed, ctx)).toEqual(Buffer.alloc(32, 9));
    const swap = swapInNewMasterKey(d);
    expect(swap.previous).toBe(fp);
    expect(readMasterKeys(d).previous.map((k) => k.fingerprint)).toEqual([fp]);
    expect(await localCipherFor(d).open(sealed, ctx)).toEqual(Buffer.alloc(32, 9));
    expect(fs.readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('the rotation lock and racing rotations', () => {
  it('refuses a second rotation while the first runs, and takes over the lock of a killed one', () => {
    const d = dir();
    const release = lockRotation(d);
    expect(fs.readFileSync(path.join(d, 'rotate.lock'), 'utf8')).toBe(`${process.pid}\n`);
    // A lock held by another live process (our parent stands in for it).
    fs.writeFileSync(path.join(d, 'rotate.lock'), `${process.ppid}\n`);
    expect(() => lockRotation(d)).toThrow(RotationLockedError);
    expect(() => lockRotation(d)).toThrow(`another rotation (pid ${process.ppid}) is running on this data dir`);
    // A lock left by a rotation killed with SIGKILL: its pid is gone.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.writeFileSync(path.join(d, 'rotate.lock'), `${dead}\n`);
    const again = lockRotation(d);
    expect(fs.readFileSync(path.join(d, 'rotate.lock'), 'utf8')).toBe(`${process.pid}\n`);
    again();
    release();
    expect(fs.existsSync(path.join(d, 'rotate.lock'))).toBe(false);
  });

  it('keeps every key that ever became current, even when two swaps race', async () => {
    const d = dir();
    loadOrCreateMasterKey(d);
    const cipher = localCipherFor(d);
    const first = swapInNewMasterKey(d);
    const sealedUnderFirst = await cipher.seal(Buffer.alloc(32, 6), ctx);
    const second = swapInNewMasterKey(d);
    expect(second.previous).toBe(first.current);
    const kept = readMasterKeys(d)
      .previous.map((k) => k.fingerprint)
      .sort();
    expect(kept).toEqual([first.previous, first.current].sort());
    expect(fs.existsSync(path.join(d, `master.${second.current}.key`))).toBe(true);
    expect(await new LocalEnvelopeCipher(new MasterKeyRing(d)).open(sealedUnderFirst, ctx)).toEqual(
      Buffer.alloc(32, 6),
    );
  });
});
