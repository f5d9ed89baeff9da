import type { AccessRules, ResourcePolicy } from '../records';
import type { PolicyRepository } from '../repositories';
import { ReadBatcher } from './batch';
import { dateOf, type Query } from './database';

interface PolicyRow {
  resource_id: string;
  rules: AccessRules;
  updated_at: string;
}

/** Per-resource access policies (`resource_policies`, rules as JSONB), one autocommitted upsert per write. */
export class PostgresPolicyRepository implements PolicyRepository {
  private readonly byId: ReadBatcher<ResourcePolicy>;

  constructor(private readonly query: Query) {
    this.byId = new ReadBatcher(async (ids) => {
      const { rows } = await query<PolicyRow>(
        'SELECT resource_id, rules, updated_at FROM resource_policies WHERE resource_id = ANY($1::text[])',
        [ids],
      );
      return new Map(
        rows.map((r) => [r.resource_id, { resourceId: r.resource_id, ...r.rules, updatedAt: dateOf(r.updated_at) }]),
      );
    });
  }

  async get(resourceId: string): Promise<ResourcePolicy | undefined> {
    return this.byId.get(resourceId);
  }

  async put(policy: ResourcePolicy): Promise<void> {
    const { allowIps, denyIps, allowOrigins } = policy;
    await this.query(
      'INSERT INTO resource_policies (resource_id, rules, updated_at) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (resource_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at',
      [policy.resourceId, JSON.stringify({ allowIps, denyIps, allowOrigins }), policy.updatedAt.getTime()],
    );
  }

  async delete(resourceId: string): Promise<boolean> {
    const res = await this.query('DELETE FROM resource_policies WHERE resource_id = $1', [resourceId]);
    return (res.rowCount ?? 0) > 0;
  }
}
