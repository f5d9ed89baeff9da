import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyService } from '../../src/keys/key-service';
import { LocalEnvelopeCipher, loadOrCreateMasterKey } from '../../src/keys/local-cipher';
import { openPostgresBackend } from '../../src/store/postgres';
import { runCli } from '../e2e/cli-process';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { openDataDir, openedKeys, seedStore } from '../helpers/seed-store';

let server: PostgresServer | undefined;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(() => server?.destroy());

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kp-pg-migrate-'));

describe('keyplane migrate sqlite → postgres', () => {
  it('copies every record, keys re-sealed and identical when opened; verify passes; the password is never printed', async () => {
    const [a, b, work] = [tmp(), tmp(), tmp()];
    const url = await (server as PostgresServer).createDatabase();
    const src = openDataDir(a);
    const kids = await seedStore(src, 4);
    const before = await openedKeys(src, kids);
    await src.store.close();

    const run = await runCli(
      [
        'migrate',
        '--from',
        `sqlite:${a}`,
        '--to',
        `postgres:${url}`,
        '--verify',
        '--json',
        '--checkpoint',
        path.join(work, 'cp.json'),
      ],
      { KEYPLANE_DATA_DIR: b },
    ); // the target's master key is created in b, and the command says its servers need it
    expect(run.stderr).toMatch(
      new RegExp(
        `^keyplane: made a new master key [0-9a-f]{16} at ${b}/master.key for postgres:\\S+: every server on ` +
          'that store must have this master.key in its data dir, or none of the keys migrated there opens\\n$',
      ),
    );
    expect(run.stderr).not.toContain((server as PostgresServer).password);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { copied: Record<string, number>; verify?: { mismatches: unknown[] } };
    expect(report.copied.key).toBeGreaterThanOrEqual(8);
    expect(report.verify?.mismatches).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain((server as PostgresServer).password);

    const store = openPostgresBackend({ url });
    try {
      const cipher = new LocalEnvelopeCipher(loadOrCreateMasterKey(b));
      expect(await openedKeys({ store, cipher, keys: new KeyService(store, cipher, 3600) }, kids)).toEqual(before);
    } finally {
      await store.close();
    }
  });
  it('takes the connection string from an environment variable (postgres:env:VAR), off the command line', async () => {
    const [a, b, work] = [tmp(), tmp(), tmp()];
    const url = await (server as PostgresServer).createDatabase();
    const src = openDataDir(a);
    await seedStore(src, 1);
    await src.store.close();
    const args = ['migrate', '--from', `sqlite:${a}`, '--to', 'postgres:env:KP_TARGET', '--json'];
    const checkpoint = path.join(work, 'cp.json');
    const unset = await runCli([...args, '--checkpoint', checkpoint], { KEYPLANE_DATA_DIR: b });
    expect([unset.code, unset.stderr]).toEqual([
      2,
      expect.stringContaining('postgres:env:KP_TARGET: KP_TARGET is not set'),
    ]);
    const run = await runCli([...args, '--checkpoint', checkpoint], { KEYPLANE_DATA_DIR: b, KP_TARGET: url });
    expect([run.code, run.stderr]).toEqual([0, expect.stringContaining(`made a new master key`)]);
    expect((JSON.parse(run.stdout) as { copied: Record<string, number> }).copied.key).toBeGreaterThanOrEqual(1);
    expect(run.stdout).not.toContain((server as PostgresServer).password);
  });
});
