import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceUnavailableError } from '../../src/errors';
import type { ApiKeyRecord, IssueCommit, Lease, StoredKey } from '../../src/store/records';
import { KeyRaceError, LeaseRaceError, StaticKeyExistsError } from '../../src/store/records';
import { GroupCommitter } from '../../src/store/sqlite/group-commit';
import { openSqliteBackend, type SqliteBackend } from '../../src/store/sqlite';

const uid = (): string => crypto.randomUUID();

function storedKey(resourceId: string, kid = uid(), origin: StoredKey['origin'] = 'speke'): StoredKey {
  return { kid, resourceId, sealed: crypto.randomBytes(61), origin, createdAt: new Date() };
}

function firstIssue(resourceId: string, key = storedKey(resourceId)): IssueCommit {
  const lease: Lease = {
    resourceId,
    owner: 'owner-a',
    kids: [key.kid],
    rotating: false,
    expiresAt: new Date(Date.now() + 600_000),
    version: 1,
  };
  return {
    lease,
    expectedLeaseVersion: undefined,
    newKeys: [key],
    claim: { tenant: 'default', kind: 'speke', expected: 'absent' },
  };
}

function apiKey(id = crypto.randomBytes(8).toString('hex')): ApiKeyRecord {
  return {
    id,
    name: 'n',
    roles: ['encoder'],
    secretHash: crypto.randomBytes(32),
    createdAt: new Date(),
    tenant: 'default',
  };
}

/** The leases another connection to the same file sees: only what was committed. */
function committedLeases(file: string, resourceIds: string[]): string[] {
  const other = new Database(file, { readonly: true });
  try {
    const stmt = other.prepare<[string], { resource_id: string }>(
      'SELECT resource_id FROM leases WHERE resource_id = ?',
    );
    return resourceIds.filter((id) => stmt.get(id) !== undefined);
  } finally {
    other.close();
  }
}

describe('SQLite backend group commit', () => {
  let dir: string;
  let file: string;
  let store: SqliteBackend;
  let commits: number[];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-group-'));
    file = path.join(dir, 'keyplane.db');
    commits = [];
    store = openSqliteBackend(file, { onCommit: (writes) => commits.push(writes), busyTimeoutMs: 50 });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('commits writes issued in the same event-loop turn in one transaction', async () => {
    const rids = Array.from({ length: 20 }, () => uid());
    await Promise.all(rids.map((rid) => store.leases.commitIssue(firstIssue(rid))));
    expect(commits).toEqual([20]);
    expect(committedLeases(file, rids)).toEqual(rids);
  });

  it('commits writes awaited one after the other in one transaction each', async () => {
    for (let i = 0; i < 3; i++) await store.leases.commitIssue(firstIssue(uid()));
    expect(commits).toEqual([1, 1, 1]);
  });

  it('batches every kind of write', async () => {
    const record = apiKey();
    await store.apiKeys.put(record);
    const rid = uid();
    const key = storedKey(rid, uid(), 'static');
    await Promise.all([
      store.leases.commitIssue(firstIssue(uid())),
      store.staticKeys.put({ resourceId: rid, kid: key.kid, createdAt: key.createdAt }, key, 'default'),
      store.apiKeys.put(apiKey()),
      store.apiKeys.revoke(record.id, new Date()),
      store.leases.delete(uid()),
    ]);
    expect(commits).toEqual([1, 5]);
  });

  it('resolves only once the shared transaction is committed', async () => {
    const rids = [uid(), uid(), uid()];
    const seen = await Promise.all(
      rids.map((rid) => store.leases.commitIssue(firstIssue(rid)).then(() => committedLeases(file, [rid]))),
    );
    expect(seen).toEqual(rids.map((rid) => [rid]));
  });

  it('rejects only the members that lost a race; the others commit together', async () => {
    const taken = uid();
    const takenIssue = firstIssue(taken);
    await store.leases.commitIssue(takenIssue);
    const existingKid = takenIssue.newKeys[0]?.kid as string;
    const staticRid = uid();
    const staticKey = storedKey(staticRid, uid(), 'static');
    await store.staticKeys.put(
      { resourceId: staticRid, kid: staticKey.kid, createdAt: staticKey.createdAt },
      staticKey,
      'default',
    );
    const duplicateApiKey = apiKey();
    await store.apiKeys.put(duplicateApiKey);
    commits = [];

    const good = [uid(), uid(), uid()];
    const keyRace = uid();
    const second = storedKey(staticRid, uid(), 'static');
    const results = await Promise.allSettled([
      store.leases.commitIssue(firstIssue(good[0] as string)),
      store.leases.commitIssue(firstIssue(taken)),
      store.leases.commitIssue(firstIssue(good[1] as string)),
      store.leases.commitIssue(firstIssue(keyRace, storedKey(keyRace, existingKid))),
      store.staticKeys.put({ resourceId: staticRid, kid: second.kid, createdAt: second.createdAt }, second, 'default'),
      store.apiKeys.put(duplicateApiKey),
      store.leases.commitIssue(firstIssue(good[2] as string)),
    ]);

    expect(commits).toEqual([7]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    const reasons = results.map((r) => (r.status === 'rejected' ? r.reason : undefined));
    expect(reasons[1]).toBeInstanceOf(LeaseRaceError);
    expect(reasons[3]).toBeInstanceOf(KeyRaceError);
    expect(reasons[4]).toBeInstanceOf(StaticKeyExistsError);
    expect((reasons[5] as { code?: string }).code).toMatch(/^SQLITE_CONSTRAINT/);
    expect(committedLeases(file, [...good, keyRace])).toEqual(good);
    expect((await store.keys.get([second.kid])).size).toBe(0);
    expect((await store.leases.get(taken))?.owner).toBe('owner-a');
  });

  it('lets exactly one of several first commits for one resource win within a batch', async () => {
    const rid = uid();
    const attempts = Array.from({ length: 5 }, () => firstIssue(rid));
    const results = await Promise.allSettled(attempts.map((a) => store.leases.commitIssue(a)));
    expect(commits).toEqual([5]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected']);
    for (const r of results.slice(1)) {
      expect(r.status === 'rejected' && r.reason).toBeInstanceOf(LeaseRaceError);
      expect(r.status === 'rejected' && (r.reason as LeaseRaceError).existing?.kids).toEqual(attempts[0]?.lease.kids);
    }
  });

  it('rejects every member with 503 when the batch cannot start, keeps nothing, and recovers', async () => {
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const rids = [uid(), uid()];
    const results = await Promise.allSettled(rids.map((rid) => store.leases.commitIssue(firstIssue(rid))));
    other.exec('ROLLBACK');
    other.close();
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(r.status === 'rejected' && r.reason).toBeInstanceOf(ServiceUnavailableError);
    }
    expect(commits).toEqual([]);
    expect(committedLeases(file, rids)).toEqual([]);
    await store.leases.commitIssue(firstIssue(rids[0] as string));
    expect(commits).toEqual([1]);
  });

  it('waits for a write lock held elsewhere without blocking the event loop, then commits', async () => {
    await store.close();
    store = openSqliteBackend(file, { onCommit: (writes) => commits.push(writes), busyTimeoutMs: 2000 });
    const known = apiKey();
    await store.apiKeys.put(known);
    commits.length = 0;
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const rid = uid();
    let settled = false;
    const pending = store.leases.commitIssue(firstIssue(rid)).finally(() => (settled = true));
    // SQLite's own busy handler would hold this thread until the lock is free; only this thread can free it.
    const ticks = await new Promise<number>((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        if (++n === 20) {
          clearInterval(timer);
          resolve(n);
        }
      }, 5);
    });
    expect(ticks).toBe(20);
    expect(settled).toBe(false);
    expect((await store.apiKeys.get(known.id))?.id).toBe(known.id);
    const later = uid();
    const joined = store.leases.commitIssue(firstIssue(later));
    other.exec('COMMIT');
    other.close();
    await Promise.all([pending, joined]);
    expect(committedLeases(file, [rid, later])).toEqual([rid, later]);
    expect(commits).toEqual([2]);
  });

  it('commits writes still queued when the store closes', async () => {
    const rid = uid();
    const pending = store.leases.commitIssue(firstIssue(rid));
    await store.close();
    await pending;
    expect(committedLeases(file, [rid])).toEqual([rid]);
    store = openSqliteBackend(file);
  });
});

describe('GroupCommitter without savepoints (appends that cannot conflict)', () => {
  it('commits a turn in one transaction; a throwing write fails the whole batch and keeps nothing of it', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (v TEXT PRIMARY KEY)');
    const commits: number[] = [];
    const writer = new GroupCommitter(db, {
      batchError: (err) => new ServiceUnavailableError(`batch failed: ${String(err)}`, 1),
      onCommit: (n) => commits.push(n),
      savepoints: false,
    });
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    await Promise.all(['a', 'b', 'c'].map((v) => writer.submit(() => insert.run(v))));
    expect(commits).toEqual([3]);
    const failed = await Promise.allSettled(['d', 'a', 'e'].map((v) => writer.submit(() => insert.run(v))));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(ServiceUnavailableError);
    expect(db.prepare('SELECT v FROM t ORDER BY v').pluck().all()).toEqual(['a', 'b', 'c']);
    expect(db.inTransaction).toBe(false);
    db.close();
  });
});
