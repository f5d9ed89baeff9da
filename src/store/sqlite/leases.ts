import type Database from 'better-sqlite3';
import type { GroupCommitter } from './group-commit';
import type { IssueCommit, Lease } from '../records';
import type { LeaseRepository } from '../repositories';
import {
  issueOp,
  prepareIssue,
  raceError,
  runIssue,
  toLease,
  type IssueStatements,
  type LeaseRow,
} from './issue-write';
import type { SqliteWriterThread } from './writer-thread';

/**
 * The `leases` table. A commit makes the resource's ownership claim, writes the lease (insert when none
 * was expected, else an update conditional on the version read) and its new keys in one group-committed
 * write (see runIssue), so leases are safe across processes that share the file. The server commits it on
 * its writer thread; tests and CLI commands on the event loop.
 */
export class SqliteLeaseRepository implements LeaseRepository {
  private readonly deleteStmt: Database.Statement;
  private readonly deleteOwnedStmt: Database.Statement;
  private readonly issue: IssueStatements;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommitter,
    private readonly thread?: SqliteWriterThread,
  ) {
    this.issue = prepareIssue(db);
    this.deleteStmt = db.prepare('DELETE FROM leases WHERE resource_id = ?');
    this.deleteOwnedStmt = db.prepare('DELETE FROM leases WHERE resource_id = ? AND owner = ?');
  }

  async get(resourceId: string): Promise<Lease | undefined> {
    const row = this.issue.leaseGet.get(resourceId) as LeaseRow | undefined;
    return row && toLease(row);
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    const op = issueOp(commit);
    if (this.thread?.usable) return this.thread.issue(op);
    return this.writes.submit(() => {
      const race = runIssue(this.issue, op);
      if (race) throw raceError(op.resourceId, race);
    });
  }

  async delete(resourceId: string, owner?: string): Promise<boolean> {
    return this.writes.submit(
      () =>
        (owner === undefined ? this.deleteStmt.run(resourceId) : this.deleteOwnedStmt.run(resourceId, owner)).changes >
        0,
    );
  }
}
