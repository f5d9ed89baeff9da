import type Database from 'better-sqlite3';
import type { AccessRules, ResourcePolicy } from '../records';
import type { PolicyRepository } from '../repositories';

interface PolicyRow {
  resource_id: string;
  rules: string;
  updated_at: number;
}

/** Per-resource access policies in the main SQLite file (`resource_policies`, rules as JSON), autocommitted. */
export class SqlitePolicyRepository implements PolicyRepository {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], PolicyRow>('SELECT * FROM resource_policies WHERE resource_id = ?'),
      put: db.prepare(
        'INSERT INTO resource_policies (resource_id, rules, updated_at) VALUES (?, ?, ?) ' +
          'ON CONFLICT (resource_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at',
      ),
      delete: db.prepare('DELETE FROM resource_policies WHERE resource_id = ?'),
    };
  }

  async get(resourceId: string): Promise<ResourcePolicy | undefined> {
    const row = this.stmts.get.get(resourceId);
    if (!row) return undefined;
    return { resourceId, ...(JSON.parse(row.rules) as AccessRules), updatedAt: new Date(row.updated_at) };
  }

  async put(policy: ResourcePolicy): Promise<void> {
    const { allowIps, denyIps, allowOrigins } = policy;
    this.stmts.put.run(
      policy.resourceId,
      JSON.stringify({ allowIps, denyIps, allowOrigins }),
      policy.updatedAt.getTime(),
    );
  }

  async delete(resourceId: string): Promise<boolean> {
    return this.stmts.delete.run(resourceId).changes > 0;
  }
}
