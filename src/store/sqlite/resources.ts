import type Database from 'better-sqlite3';
import {
  ResourceRaceError,
  type ResourceClaim,
  type ResourceOwner,
  type ResourceRepository,
  type TenantRepository,
  type TenantSummary,
} from '../ownership';
import { ISSUE_SQL, runClaim } from './issue-write';

interface ResourceRow {
  resource_id: string;
  tenant: string;
  kind: string;
  created_at: number;
}

const toOwner = (r: ResourceRow): ResourceOwner => ({
  resourceId: r.resource_id,
  tenant: r.tenant,
  kind: r.kind === 'static' ? 'static' : 'speke',
  createdAt: new Date(r.created_at),
});

/**
 * The `resources` table (see tenants-schema.ts): reads, and the claim issuance and static keys make
 * inside their own group-committed write, so the owner and the keys are committed together or not at all.
 */
export class SqliteResourceTable implements ResourceRepository {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], ResourceRow>(ISSUE_SQL.resourceGet),
      insert: db.prepare(ISSUE_SQL.resourceInsert),
    };
  }

  async get(resourceId: string): Promise<ResourceOwner | undefined> {
    const row = this.stmts.get.get(resourceId);
    return row && toOwner(row);
  }

  /** Makes or checks a claim (see ResourceClaim); ResourceRaceError when it fails. Call inside a write. */
  claim(resourceId: string, claim: ResourceClaim, at: Date): void {
    const stmts = { resourceGet: this.stmts.get, resourceInsert: this.stmts.insert };
    if (!runClaim(stmts, resourceId, { ...claim, at: at.getTime() })) throw new ResourceRaceError(resourceId);
  }
}

interface TenantRow {
  tenant: string;
  api_keys: number;
  resources: number;
}

/** Tenants from `api_keys` and `resources`, counted through their tenant indexes. */
export class SqliteTenantRepository implements TenantRepository {
  private readonly list$;

  constructor(db: Database.Database) {
    this.list$ = db.prepare<[], TenantRow>(
      `SELECT tenant, SUM(k) AS api_keys, SUM(r) AS resources FROM (
         SELECT tenant, COUNT(*) AS k, 0 AS r FROM api_keys GROUP BY tenant
         UNION ALL SELECT tenant, 0, COUNT(*) FROM resources GROUP BY tenant
       ) GROUP BY tenant ORDER BY tenant`,
    );
  }

  async list(): Promise<TenantSummary[]> {
    return this.list$.all().map((r) => ({ tenant: r.tenant, apiKeys: r.api_keys, resources: r.resources }));
  }
}
