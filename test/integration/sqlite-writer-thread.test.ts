import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServiceUnavailableError } from '../../src/errors';
import { KeyRaceError, LeaseRaceError, type IssueCommit, type StoredKey } from '../../src/store/records';
import { auditFileOf, openSqliteBackend } from '../../src/store/sqlite';
import { SqliteWriterThread } from '../../src/store/sqlite/writer-thread';
import { deliveryRecord } from '../helpers/audit-records';

// The server commits issuance and audit writes on a worker thread (SqliteWriterThread). These check what
// that must not change, durability, races and close, and what it is for: the event loop runs on while
// the write waits for the file.

function issue(resourceId: string, kid = crypto.randomUUID(), version = 1, expected?: number): IssueCommit {
  const key: StoredKey = { kid, resourceId, sealed: crypto.randomBytes(61), origin: 'speke', createdAt: new Date() };
  return {
    lease: {
      resourceId,
      owner: 'enc',
      kids: [kid],
      rotating: false,
      expiresAt: new Date(Date.now() + 60_000),
      version,
    },
    expectedLeaseVersion: expected,
    newKeys: expected === undefined ? [key] : [],
    claim: { tenant: 'default', kind: 'speke', expected: expected === undefined ? 'absent' : 'present' },
  };
}

describe('SQLite writer thread', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-writer-'));
    file = path.join(dir, 'keyplane.db');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('commits off the event loop: the loop runs on while the write waits for the lock, then it is durable', async () => {
    let loopCommits = 0;
    const store = openSqliteBackend(file, { writerThread: true, onCommit: () => loopCommits++ });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const written = store.leases.commitIssue(issue('held'));
      let ticks = 0;
      const ticking = setInterval(() => ticks++, 5);
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(ticking);
      // The thread waits for the lock; the loop kept its timers going all along.
      expect(ticks).toBeGreaterThan(20);
      expect(await store.leases.get('held')).toBeUndefined();
      other.exec('COMMIT');
      await written;
      expect((await store.leases.get('held'))?.owner).toBe('enc');
      const seen = new Database(file, { readonly: true });
      expect(seen.prepare('SELECT count(*) AS n FROM keys').get()).toEqual({ n: 1 });
      seen.close();
      expect(loopCommits).toBe(0);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('reports races as the loop does, and a lost write leaves nothing behind', async () => {
    const store = openSqliteBackend(file, { writerThread: true });
    try {
      const kid = crypto.randomUUID();
      const results = await Promise.allSettled([
        store.leases.commitIssue(issue('r', kid)),
        store.leases.commitIssue(issue('r')),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
      const lost = (results[1] as PromiseRejectedResult).reason as LeaseRaceError;
      expect(lost).toBeInstanceOf(LeaseRaceError);
      expect(lost.existing?.kids).toEqual([kid]);
      // The same KID under another resource: the key race, and the lease of that write is rolled back.
      await expect(store.leases.commitIssue(issue('s', kid))).rejects.toBeInstanceOf(KeyRaceError);
      expect(await store.leases.get('s')).toBeUndefined();
      await expect(store.leases.commitIssue(issue('r', kid, 2, 1))).resolves.toBeUndefined();
      expect((await store.leases.get('r'))?.version).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('close commits what was sent, settles it, and leaves no WAL behind', async () => {
    const store = openSqliteBackend(file, { writerThread: true, backgroundCheckpoint: true });
    const appended = store.audit.append([deliveryRecord('closing')]);
    const issued = store.leases.commitIssue(issue('closing'));
    await store.close();
    await expect(appended).resolves.toBeUndefined();
    await expect(issued).resolves.toBeUndefined();
    for (const f of [file, auditFileOf(file)]) expect(fs.existsSync(`${f}-wal`)).toBe(false);
    const audit = new Database(auditFileOf(file), { readonly: true });
    expect(audit.prepare('SELECT resource_id FROM audit').all()).toEqual([{ resource_id: 'closing' }]);
    audit.close();
  });

  it('keeps audit appends on the event loop when told to, and issuance on the thread', async () => {
    const appendAudit = jest.spyOn(SqliteWriterThread.prototype, 'appendAudit');
    const issueOnThread = jest.spyOn(SqliteWriterThread.prototype, 'issue');
    let loopCommits = 0;
    const store = openSqliteBackend(file, {
      writerThread: true,
      auditOnWriterThread: false,
      onCommit: () => loopCommits++,
    });
    try {
      await store.audit.append([deliveryRecord('on-loop')]);
      await store.leases.commitIssue(issue('on-thread'));
      expect(appendAudit).not.toHaveBeenCalled();
      expect(issueOnThread).toHaveBeenCalledTimes(1);
      expect(loopCommits).toBe(0);
      const audit = new Database(auditFileOf(file), { readonly: true });
      expect(audit.prepare('SELECT resource_id FROM audit').all()).toEqual([{ resource_id: 'on-loop' }]);
      audit.close();
    } finally {
      appendAudit.mockRestore();
      issueOnThread.mockRestore();
      await store.close();
    }
  });

  it('answers 503 when the file cannot take the write, and the batch leaves nothing', async () => {
    const store = openSqliteBackend(file, { writerThread: true, busyTimeoutMs: 200 });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      await expect(store.leases.commitIssue(issue('busy'))).rejects.toBeInstanceOf(ServiceUnavailableError);
      other.exec('ROLLBACK');
      expect(await store.leases.get('busy')).toBeUndefined();
      await expect(store.leases.commitIssue(issue('busy'))).resolves.toBeUndefined();
    } finally {
      other.close();
      await store.close();
    }
  });
});
