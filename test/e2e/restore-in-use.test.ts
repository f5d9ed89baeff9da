import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_KEY } from '../helpers/test-app';
import { startServerProcess } from '../helpers/server-process';
import { runCli } from './cli-process';

// A restore under a running server replaced the files it was writing to: keys it issued afterwards
// answered 201 and were gone once it stopped. `restore --force` now refuses while the store is open.

describe('keyplane restore --force on a store a server has open', () => {
  it('refuses, changing nothing, and restores once the server has stopped, over a damaged store too', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-restore-busy-'));
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-restore-out-')), 'store.backup');
    const env = { KEYPLANE_DATA_DIR: dataDir, KEYPLANE_ADMIN_KEY: ADMIN_KEY };
    const server = await startServerProcess(dataDir);
    try {
      const issue = (resourceId: string) =>
        fetch(`http://127.0.0.1:${server.port}/static-keys`, {
          method: 'POST',
          headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
          body: JSON.stringify({ resourceId }),
        });
      expect((await issue('before-backup')).status).toBe(201);
      expect((await runCli(['backup', '--out', out], env)).code).toBe(0);
      expect((await issue('after-backup')).status).toBe(201);
      const refused = await runCli(['restore', out, '--force'], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('is open in another process (a running server?): stop every server on');
      const still = await fetch(`http://127.0.0.1:${server.port}/static-keys/after-backup`, {
        headers: { 'x-api-key': ADMIN_KEY },
      });
      expect(still.status).toBe(200);
    } finally {
      await server.kill('SIGTERM');
    }
    // A damaged store, the usual reason to restore, is no store in use.
    fs.writeFileSync(path.join(dataDir, 'keyplane.db'), crypto.randomBytes(8192));
    const restored = await runCli(['restore', out, '--force'], env);
    expect([restored.code, restored.stderr]).toEqual([0, '']);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
