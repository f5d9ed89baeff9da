import type Database from 'better-sqlite3';
import type { GroupCommitter } from './group-commit';
import type { SqliteKeyTable } from './keys';
import type { SqliteResourceTable } from './resources';
import { LeaseRaceError, type IssueCommit, type Lease } from '../records';
import type { LeaseRepository } from '../repositories';

interface LeaseRow {
  resource_id: string;
  owner: string;
  kids: string;
  rotating: number;
  expires_at: number;
  version: number;
}

const toLease = (r: LeaseRow): Lease => ({
  resourceId: r.resource_id,
  owner: r.owner,
  kids: JSON.parse(r.kids) as string[],
  rotating: r.rotating === 1,
  expiresAt: new Date(r.expires_at),
  version: r.version,
});

/**
 * The `leases` table. A commit makes the resource's ownership claim, writes the lease (insert when none was expected, else an update
 * conditional on the version read) and its new keys in one group-committed write, so leases are safe
 * across processes that share the file.
 */
export class SqliteLeaseRepository implements LeaseRepository {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommitter,
    private readonly keys: SqliteKeyTable,
    private readonly resources: SqliteResourceTable,
  ) {
    this.stmts = {
      get: db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE resource_id = ?'),
      insert: db.prepare(
        'INSERT OR IGNORE INTO leases (resource_id, owner, kids, rotating, expires_at, version) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      update: db.prepare(
        'UPDATE leases SET owner = ?, kids = ?, rotating = ?, expires_at = ?, version = ? WHERE resource_id = ? AND version = ?',
      ),
      delete: db.prepare('DELETE FROM leases WHERE resource_id = ?'),
    };
  }

  async get(resourceId: string): Promise<Lease | undefined> {
    const row = this.stmts.get.get(resourceId);
    return row && toLease(row);
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    return this.writes.submit(() => {
      this.write(commit.lease, commit.expectedLeaseVersion);
      for (const key of commit.newKeys) this.keys.insert(key);
      this.resources.claim(commit.lease.resourceId, commit.claim, commit.newKeys[0]?.createdAt ?? new Date());
    });
  }

  async delete(resourceId: string): Promise<boolean> {
    return this.writes.submit(() => this.stmts.delete.run(resourceId).changes > 0);
  }

  private write(lease: Lease, expected: number | undefined): void {
    const args = [
      lease.owner,
      JSON.stringify(lease.kids),
      lease.rotating ? 1 : 0,
      lease.expiresAt.getTime(),
      lease.version,
    ];
    const res =
      expected === undefined
        ? this.stmts.insert.run(lease.resourceId, ...args)
        : this.stmts.update.run(...args, lease.resourceId, expected);
    if (res.changes === 0) {
      const current = this.stmts.get.get(lease.resourceId);
      throw new LeaseRaceError(lease.resourceId, current && toLease(current));
    }
  }
}
