import { LeaseRaceError, type IssueCommit, type Lease } from '../records';
import type { LeaseRepository } from '../repositories';
import { ReadBatcher } from './batch';
import { dateOf, type PostgresDatabase, type Tx } from './database';
import type { PostgresKeyTable } from './keys';
import type { PostgresResourceTable } from './resources';

interface LeaseRow {
  resource_id: string;
  owner: string;
  kids: string[];
  rotating: boolean;
  expires_at: string;
  version: number;
}

const toLease = (r: LeaseRow): Lease => ({
  resourceId: r.resource_id,
  owner: r.owner,
  kids: r.kids,
  rotating: r.rotating,
  expiresAt: dateOf(r.expires_at),
  version: r.version,
});

const SELECT = 'SELECT resource_id, owner, kids, rotating, expires_at, version FROM leases WHERE resource_id = $1';

/**
 * The `leases` table. A commit writes the lease (an insert that does nothing when a lease exists, or an
 * update conditional on the version read), its new keys (each only if absent) and the ownership claim in
 * one transaction: racing instances wait on each other's row and exactly one commits, the others get a
 * race error and nothing of theirs is written. The lease rule itself is the KeyService's (as for every backend).
 */
export class PostgresLeaseRepository implements LeaseRepository {
  private readonly byId: ReadBatcher<Lease>;

  constructor(
    private readonly db: PostgresDatabase,
    private readonly keys: PostgresKeyTable,
    private readonly resources: PostgresResourceTable,
  ) {
    this.byId = new ReadBatcher(async (ids) => {
      const { rows } = await db.query<LeaseRow>(
        'SELECT resource_id, owner, kids, rotating, expires_at, version FROM leases WHERE resource_id = ANY($1::text[])',
        [ids],
      );
      return new Map(rows.map((r) => [r.resource_id, toLease(r)]));
    });
  }

  async get(resourceId: string): Promise<Lease | undefined> {
    return this.byId.get(resourceId);
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.write(tx, commit.lease, commit.expectedLeaseVersion);
      await this.keys.insert(tx, commit.newKeys);
      const at = commit.newKeys[0]?.createdAt ?? new Date();
      await this.resources.claim(tx, commit.lease.resourceId, commit.claim, at);
    });
  }

  async delete(resourceId: string, owner?: string): Promise<boolean> {
    const res =
      owner === undefined
        ? await this.db.query('DELETE FROM leases WHERE resource_id = $1', [resourceId])
        : await this.db.query('DELETE FROM leases WHERE resource_id = $1 AND owner = $2', [resourceId, owner]);
    return (res.rowCount ?? 0) > 0;
  }

  private async write(tx: Tx, lease: Lease, expected: number | undefined): Promise<void> {
    const args = [lease.owner, lease.kids, lease.rotating, lease.expiresAt.getTime(), lease.version];
    const res =
      expected === undefined
        ? await tx.query(
            'INSERT INTO leases (resource_id, owner, kids, rotating, expires_at, version) ' +
              'VALUES ($6, $1, $2, $3, $4, $5) ON CONFLICT (resource_id) DO NOTHING',
            [...args, lease.resourceId],
          )
        : await tx.query(
            'UPDATE leases SET owner = $1, kids = $2, rotating = $3, expires_at = $4, version = $5 ' +
              'WHERE resource_id = $6 AND version = $7',
            [...args, lease.resourceId, expected],
          );
    if (res.rowCount === 0) {
      const { rows } = await tx.query<LeaseRow>(SELECT, [lease.resourceId]);
      throw new LeaseRaceError(lease.resourceId, rows[0] && toLease(rows[0]));
    }
  }
}
