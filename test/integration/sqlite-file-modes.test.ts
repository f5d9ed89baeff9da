import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { auditFileOf, openSqliteBackend } from '../../src/store/sqlite';

/** The permission bits of a file. */
function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

/** Every SQLite file of a store: main and audit file with their WAL side files. */
function filesOf(file: string): string[] {
  return [file, auditFileOf(file)].flatMap((f) => [f, `${f}-wal`, `${f}-shm`]).filter((f) => fs.existsSync(f));
}

describe('SQLite files are private whatever the umask and data directory', () => {
  let dir: string;
  let previous: number;

  beforeEach(() => {
    previous = process.umask(0);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-modes-'));
    fs.chmodSync(dir, 0o777);
  });

  afterEach(() => {
    process.umask(previous);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates keyplane.db, keyplane-audit.db and their -wal/-shm files 0600 under umask 0 in a 0777 dir', async () => {
    const file = path.join(dir, 'keyplane.db');
    const store = openSqliteBackend(file);
    await store.staticKeys.get('anything');
    const files = filesOf(file);
    expect(files.map((f) => path.basename(f)).sort()).toEqual(
      [
        'keyplane-audit.db',
        'keyplane-audit.db-shm',
        'keyplane-audit.db-wal',
        'keyplane.db',
        'keyplane.db-shm',
        'keyplane.db-wal',
      ].sort(),
    );
    for (const f of files) expect([path.basename(f), modeOf(f)]).toEqual([path.basename(f), 0o600]);
    await store.close();
  });

  it('creates a missing data directory 0700 under umask 0', async () => {
    const file = path.join(dir, 'data', 'keyplane.db');
    const store = openSqliteBackend(file);
    expect(modeOf(path.dirname(file))).toBe(0o700);
    for (const f of filesOf(file)) expect(modeOf(f)).toBe(0o600);
    await store.close();
  });

  it('tightens files an earlier version left world-readable', async () => {
    const file = path.join(dir, 'keyplane.db');
    await openSqliteBackend(file).close();
    for (const f of [file, auditFileOf(file)]) fs.chmodSync(f, 0o666);
    const store = openSqliteBackend(file);
    for (const f of filesOf(file)) expect(modeOf(f)).toBe(0o600);
    await store.close();
  });
});
