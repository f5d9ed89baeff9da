import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { enableWal } from '../../src/store/sqlite/wal-mode';

// Two processes opening a new data dir at once (`--workers`, two servers on one dir): the switch to WAL can
// answer SQLITE_BUSY without waiting, and the second process used to fail to start ("database is locked").
// Here another process holds a read lock on a new rollback-mode file while this one switches it to WAL.

/** Holds a read transaction on `file` from another process for `ms`; resolves once the lock is held. */
function holdReadLock(file: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `
    const Database = require(process.argv[1]);
    const db = new Database(process.argv[2]);
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM t').get();
    process.stdout.write('held\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[3]));
  `;
  const child = spawn(process.execPath, ['-e', script, require.resolve('better-sqlite3'), file, String(ms)]);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ released: exited }));
    child.once('error', reject);
  });
}

describe('enableWal', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-wal-'));
    file = path.join(dir, 'new.db');
    const setup = new Database(file);
    setup.exec('CREATE TABLE t (x)');
    setup.close();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('waits out another process holding the file, then the file is in WAL mode', async () => {
    const { released } = await holdReadLock(file, 300);
    const db = new Database(file, { timeout: 0 });
    try {
      expect(() => db.pragma('journal_mode = WAL')).toThrow(/locked|busy/i);
      enableWal(db, 5000);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
      await released;
    }
  });

  it('gives up with SQLITE_BUSY once its timeout has passed', async () => {
    const { released } = await holdReadLock(file, 1000);
    const db = new Database(file, { timeout: 0 });
    try {
      expect(() => enableWal(db, 100)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^SQLITE_BUSY/) }),
      );
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    } finally {
      db.close();
      await released;
    }
  });
});
