import type Database from 'better-sqlite3';
import type { GroupCommitter } from './group-commit';
import type { ApiKeyRecord } from '../records';
import type { ApiKeyRepository } from '../repositories';

interface ApiKeyRow {
  id: string;
  name: string;
  roles: string;
  secret_hash: Buffer;
  created_at: number;
  revoked_at: number | null;
  tenant: string;
}

const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  roles: JSON.parse(r.roles) as string[],
  secretHash: r.secret_hash,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at === null ? undefined : new Date(r.revoked_at),
  tenant: r.tenant,
});

/** The `api_keys` table (roles as a JSON array, times as epoch ms, `tenant` since tenants: see tenants-schema.ts). */
export class SqliteApiKeyRepository implements ApiKeyRepository {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommitter,
  ) {
    this.stmts = {
      put: db.prepare(
        'INSERT INTO api_keys (id, name, roles, secret_hash, created_at, revoked_at, tenant) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?'),
      list: db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
      listTenant: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  async put(r: ApiKeyRecord): Promise<void> {
    const revokedAt = r.revokedAt?.getTime() ?? null;
    const roles = JSON.stringify(r.roles);
    await this.writes.submit(() =>
      this.stmts.put.run(r.id, r.name, roles, r.secretHash, r.createdAt.getTime(), revokedAt, r.tenant),
    );
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.stmts.get.get(id);
    return row && toApiKey(row);
  }

  async list(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const rows = filter.tenant === undefined ? this.stmts.list.all() : this.stmts.listTenant.all(filter.tenant);
    return rows.map(toApiKey);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    return this.writes.submit(() => this.stmts.revoke.run(at.getTime(), id).changes > 0);
  }
}
