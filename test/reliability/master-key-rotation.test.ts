import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { associatedData } from '../../src/keys/envelope-cipher';
import { LocalEnvelopeCipher } from '../../src/keys/local-cipher';
import { MasterKeyRing, readMasterKeys } from '../../src/keys/master-key-ring';
import { BIN, cleanEnv, runCli } from '../e2e/cli-process';
import { populateDataDir, type KeyRef } from '../helpers/key-population';
import { startServerProcess } from '../helpers/server-process';
import { ADMIN_KEY } from '../helpers/test-app';

/** Rotation while a server runs, killed with SIGKILL mid re-wrap: no key lost or changed, a re-run resumes. */
const KEYS = 5000;
const LEGACY = 100;

interface Row {
  kid: string;
  resource_id: string;
  sealed: Buffer;
}

function rows(dataDir: string): Row[] {
  const db = new Database(path.join(dataDir, 'keyplane.db'), { readonly: true });
  try {
    return db.prepare('SELECT kid, resource_id, sealed FROM keys ORDER BY kid').all() as Row[];
  } finally {
    db.close();
  }
}

/** Every stored key opened with the data dir's master keys as they are on disk now: kid → hex. */
async function openAll(dataDir: string): Promise<Map<string, string>> {
  const cipher = new LocalEnvelopeCipher(new MasterKeyRing(dataDir));
  const out = new Map<string, string>();
  for (const r of rows(dataDir)) {
    out.set(r.kid, (await cipher.open(r.sealed, { resourceId: r.resource_id, kid: r.kid })).toString('hex'));
  }
  return out;
}

/** Rewrites the first `n` keys in format 2 (before key ids), as an older Keyplane stored them. */
function makeLegacy(dataDir: string, plain: Map<string, string>, n: number): void {
  const key = readMasterKeys(dataDir).current.key;
  const db = new Database(path.join(dataDir, 'keyplane.db'));
  try {
    const update = db.prepare('UPDATE keys SET sealed = ? WHERE kid = ?');
    for (const r of rows(dataDir).slice(0, n)) {
      const nonce = crypto.randomBytes(12);
      const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(associatedData({ resourceId: r.resource_id, kid: r.kid }));
      const body = Buffer.concat([c.update(Buffer.from(plain.get(r.kid) ?? '', 'hex')), c.final()]);
      update.run(Buffer.concat([Buffer.of(2), nonce, c.getAuthTag(), body]), r.kid);
    }
  } finally {
    db.close();
  }
}

async function deliver(port: number, ref: KeyRef): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/keys/${ref.resourceId}/${ref.kid}`, {
    headers: { 'x-api-key': ADMIN_KEY },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer()).toString('hex');
}

it('rotate-master-key killed mid re-wrap loses nothing; re-running resumes and retires the old key', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-rotate-'));
  const refs = await populateDataDir(dataDir, KEYS);
  const before = await openAll(dataDir);
  makeLegacy(dataDir, before, LEGACY);
  expect(await openAll(dataDir)).toEqual(before);
  const oldKey = readMasterKeys(dataDir).current.fingerprint;
  const server = await startServerProcess(dataDir);
  const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: ADMIN_KEY };
  try {
    // 1. Kill the rotation once it has re-wrapped some keys but not all.
    const child = spawn(process.execPath, [BIN, 'rotate-master-key'], { env: cleanEnv(env), stdio: 'pipe' });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
        const m = /re-wrapping: (\d+) keys scanned, (\d+) re-wrapped/.exec(stderr);
        if (m && Number(m[2]) > 0 && Number(m[1]) < KEYS) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`rotation ended before it could be killed: ${stderr}`)));
    });
    await new Promise((r) => child.once('exit', r));

    // 2. Every key still opens to the same bytes, with the old key kept and the new one sealing.
    const keys = readMasterKeys(dataDir);
    expect(keys.previous.map((k) => k.fingerprint)).toEqual([oldKey]);
    expect(await openAll(dataDir)).toEqual(before);
    const status = await runCli(['rotate-master-key', '--status', '--json'], env);
    const counts = (JSON.parse(status.stdout) as { sealedBy: Record<string, number> }).sealedBy;
    expect(counts[keys.current.fingerprint]).toBeGreaterThan(0);
    expect(counts[keys.current.fingerprint]).toBeLessThan(KEYS);
    // The running server follows: a new key is sealed by the new master key; old and new keys deliver.
    const created = await fetch(`http://127.0.0.1:${server.port}/static-keys`, {
      method: 'POST',
      headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ resourceId: 'after-rotation' }),
    });
    expect(created.status).toBe(201);
    const fresh = (await created.json()) as KeyRef;
    const freshRow = rows(dataDir).find((r) => r.kid === fresh.kid);
    expect(freshRow?.sealed.subarray(1, 9).toString('hex')).toBe(keys.current.fingerprint);
    for (const ref of [...refs.slice(0, 20), ...refs.slice(-20)]) {
      expect(await deliver(server.port, ref)).toBe((before.get(ref.kid) ?? '').slice(0, 32));
    }

    // 3. Re-running resumes (no third key) and re-wraps the rest, but keeps the old key while the swap is
    //    recent: the running server may still commit a key it sealed just before. Once the settle time has
    //    passed (master.key's time moved back a little over it), a run retires it.
    const rerun = await runCli(['rotate-master-key'], env);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`resuming: master key ${keys.current.fingerprint} seals; still kept: ${oldKey}`);
    expect(rerun.stdout).toContain(`kept master.${oldKey}.key: a running server may still commit keys`);
    expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(true);
    const settledAt = new Date(Date.now() - 61_000);
    fs.utimesSync(path.join(dataDir, 'master.key'), settledAt, settledAt);
    const settled = await runCli(['rotate-master-key'], env);
    expect(settled.code).toBe(0);
    expect(settled.stdout).toContain(`retired master key ${oldKey}: no stored key needs it`);
    expect(settled.stdout).toContain(`  ${keys.current.fingerprint} (current): ${KEYS + 1} keys`);
    expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(false);
    expect(readMasterKeys(dataDir).current.fingerprint).toBe(keys.current.fingerprint);
    const after = await openAll(dataDir);
    after.delete(fresh.kid);
    expect(after).toEqual(before);
    for (const ref of refs.slice(0, 20))
      expect(await deliver(server.port, ref)).toBe((before.get(ref.kid) ?? '').slice(0, 32));
    const audit = new Database(path.join(dataDir, 'keyplane-audit.db'), { readonly: true });
    const reasons = (
      audit.prepare("SELECT reason FROM audit WHERE action = 'rotate' ORDER BY time").all() as Array<{ reason: string }>
    ).map((r) => r.reason);
    audit.close();
    expect(reasons[0]).toBe(`new master key ${keys.current.fingerprint} replaces ${oldKey}`);
    expect(reasons).toContain(`retired master key ${oldKey}: no stored key needs it`);
    expect(reasons.join('\n')).not.toMatch(/[A-Za-z0-9+/]{43}=/); // no base64 key in the audit
  } finally {
    await server.kill('SIGTERM');
  }
});
