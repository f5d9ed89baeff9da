import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IssueCommit } from '../../src/store/records';
import { openSqliteBackend, type SqliteBackend } from '../../src/store/sqlite';

// The server checkpoints its SQLite files from a worker thread (src/store/sqlite/checkpointer.ts), so no
// request's commit carries a checkpoint. What a user relies on: the database file takes the committed pages
// without any writer reaching its own threshold, nothing committed is lost, and closing leaves no WAL behind.

function issue(resourceId: string): IssueCommit {
  const kid = crypto.randomUUID();
  return {
    lease: {
      resourceId,
      owner: 'o',
      kids: [kid],
      rotating: false,
      expiresAt: new Date(Date.now() + 60_000),
      version: 1,
    },
    expectedLeaseVersion: undefined,
    newKeys: [{ kid, resourceId, sealed: crypto.randomBytes(61), origin: 'speke', createdAt: new Date() }],
    claim: { tenant: 'default', kind: 'speke', expected: 'absent' },
  };
}

/** 300 resources in 15 group commits: ~1 MB of WAL, under the writer's own backstop threshold. */
async function writeSome(store: SqliteBackend): Promise<string[]> {
  const ids: string[] = [];
  for (let batch = 0; batch < 15; batch++) {
    const rids = Array.from({ length: 20 }, () => crypto.randomUUID());
    await Promise.all(rids.map((rid) => store.leases.commitIssue(issue(rid))));
    ids.push(...rids);
  }
  return ids;
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    if (check()) return true;
  }
  return check();
}

describe('SQLite background checkpoint', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-ckpt-'));
    file = path.join(dir, 'keyplane.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('copies committed pages into the database file while no writer checkpoints, and closes without a WAL', async () => {
    const store = openSqliteBackend(file, { backgroundCheckpoint: true });
    const initial = fs.statSync(file).size;
    const ids = await writeSome(store);
    // Only the worker can have grown the file: the writers' threshold (4000 pages) was not reached.
    expect(await until(() => fs.statSync(file).size > initial + 100_000)).toBe(true);
    await store.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const db = new Database(file, { readonly: true });
    const found = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM leases').get();
    db.close();
    expect(found?.n).toBe(ids.length);
  });

  it('without it (tests, CLI commands) the pages stay in the WAL until the writer checkpoints', async () => {
    const store = openSqliteBackend(file);
    const initial = fs.statSync(file).size;
    await writeSome(store);
    await new Promise((r) => setTimeout(r, 300));
    // The contrast that shows the first test measures the worker: here the file has not moved.
    expect(fs.statSync(file).size).toBe(initial);
    await store.close();
  });
});
