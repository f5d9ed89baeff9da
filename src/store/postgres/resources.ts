import {
  ResourceRaceError,
  type ResourceClaim,
  type ResourceOwner,
  type ResourceRepository,
  type TenantRepository,
  type TenantSummary,
} from '../ownership';
import { ReadBatcher } from './batch';
import { dateOf, type Query, type Tx } from './database';

interface ResourceRow {
  resource_id: string;
  tenant: string;
  kind: string;
  created_at: string;
}

const toOwner = (r: ResourceRow): ResourceOwner => ({
  resourceId: r.resource_id,
  tenant: r.tenant,
  kind: r.kind === 'static' ? 'static' : 'speke',
  createdAt: dateOf(r.created_at),
});

/**
 * The `resources` table: reads, and the claim issuance and static keys make inside their own
 * transaction, so the owner and the keys are committed together or not at all.
 */
export class PostgresResourceTable implements ResourceRepository {
  private readonly byId: ReadBatcher<ResourceOwner>;

  constructor(query: Query) {
    this.byId = new ReadBatcher(async (ids) => {
      const { rows } = await query<ResourceRow>(
        'SELECT resource_id, tenant, kind, created_at FROM resources WHERE resource_id = ANY($1::text[])',
        [ids],
      );
      return new Map(rows.map((r) => [r.resource_id, toOwner(r)]));
    });
  }

  async get(resourceId: string): Promise<ResourceOwner | undefined> {
    return this.byId.get(resourceId);
  }

  /**
   * Makes or checks a claim (see ResourceClaim) in `tx`; ResourceRaceError when it fails. `absent`
   * inserts only if no owner exists (a racing insert waits for the other transaction, then finds it);
   * `present` reads the owner FOR SHARE, so it cannot change before the transaction commits.
   */
  async claim(tx: Tx, resourceId: string, claim: ResourceClaim, at: Date): Promise<void> {
    if (claim.expected === 'absent') {
      const res = await tx.query(
        'INSERT INTO resources (resource_id, tenant, kind, created_at) VALUES ($1, $2, $3, $4) ' +
          'ON CONFLICT (resource_id) DO NOTHING',
        [resourceId, claim.tenant, claim.kind, at.getTime()],
      );
      if (res.rowCount === 0) throw new ResourceRaceError(resourceId);
      return;
    }
    const { rows } = await tx.query<ResourceRow>(
      'SELECT resource_id, tenant, kind, created_at FROM resources WHERE resource_id = $1 FOR SHARE',
      [resourceId],
    );
    const row = rows[0];
    if (!row || row.tenant !== claim.tenant || row.kind !== claim.kind) throw new ResourceRaceError(resourceId);
  }
}

interface TenantRow {
  tenant: string;
  api_keys: number;
  resources: number;
}

/** Tenants from `api_keys` and `resources`, counted through their tenant indexes. */
export class PostgresTenantRepository implements TenantRepository {
  constructor(private readonly query: Query) {}

  async list(): Promise<TenantSummary[]> {
    const { rows } = await this.query<TenantRow>(
      `SELECT tenant, SUM(k)::int AS api_keys, SUM(r)::int AS resources FROM (
         SELECT tenant, COUNT(*) AS k, 0 AS r FROM api_keys GROUP BY tenant
         UNION ALL SELECT tenant, 0, COUNT(*) FROM resources GROUP BY tenant
       ) AS t GROUP BY tenant ORDER BY tenant`,
    );
    return rows.map((r) => ({ tenant: r.tenant, apiKeys: r.api_keys, resources: r.resources }));
  }
}
