import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMasterKeys } from '../../src/keys/master-key-ring';
import { ADMIN_KEY, makeTestApp } from '../helpers/test-app';
import { runCli } from './cli-process';

// A server may seal a key with the old master key just before the swap and commit it after a run's count:
// an old key is retired only once the settle time after the swap has passed (a later run), never at once.

describe('rotate-master-key keeps an old key until the swap has settled', () => {
  it('keeps it on the run that swaps, names when it may go, and retires it on a run after that', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-settle-'));
    const t = await makeTestApp({ KEYPLANE_DATA_DIR: dataDir });
    await t.deps.staticKeys.create({ resourceId: 'settle-1' }, 'default');
    await t.close();
    const oldKey = readMasterKeys(dataDir).current.fingerprint;
    const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: ADMIN_KEY };

    const first = await runCli(['rotate-master-key'], env);
    expect(first.code).toBe(0);
    const swappedAt = fs.statSync(path.join(dataDir, 'master.key')).mtimeMs;
    expect(first.stdout).toContain(
      `kept master.${oldKey}.key: a running server may still commit keys it sealed just before the swap; run ` +
        `this command again after ${new Date(swappedAt + 60_000).toISOString()} to re-wrap them and retire it`,
    );
    expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(true);

    const bad = await runCli(['rotate-master-key', '--settle-seconds', 'soon'], env);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--settle-seconds must be a whole number')]);

    const settled = await runCli(['rotate-master-key', '--settle-seconds', '0'], env);
    expect(settled.code).toBe(0);
    expect(settled.stdout).toContain(`retired master key ${oldKey}: no stored key needs it`);
    expect(fs.existsSync(path.join(dataDir, `master.${oldKey}.key`))).toBe(false);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
