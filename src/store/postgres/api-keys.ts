import type { ApiKeyRecord } from '../records';
import type { ApiKeyRepository } from '../repositories';
import { ReadBatcher } from './batch';
import { dateOf, storableText, type Query } from './database';

interface ApiKeyRow {
  id: string;
  name: string;
  roles: string[];
  secret_hash: Buffer;
  created_at: string;
  revoked_at: string | null;
  tenant: string;
}

const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  roles: r.roles,
  secretHash: r.secret_hash,
  createdAt: dateOf(r.created_at),
  revokedAt: r.revoked_at === null ? undefined : dateOf(r.revoked_at),
  tenant: r.tenant,
});

/** The `api_keys` table (roles as a text array, only the secret's hash, times as epoch ms). */
export class PostgresApiKeyRepository implements ApiKeyRepository {
  private readonly byId: ReadBatcher<ApiKeyRecord>;

  constructor(private readonly query: Query) {
    this.byId = new ReadBatcher(async (ids) => {
      const { rows } = await query<ApiKeyRow>(
        'SELECT id, name, roles, secret_hash, created_at, revoked_at, tenant FROM api_keys WHERE id = ANY($1::text[])',
        [ids],
      );
      return new Map(rows.map((r) => [r.id, toApiKey(r)]));
    });
  }

  async put(r: ApiKeyRecord): Promise<void> {
    await this.query(
      'INSERT INTO api_keys (id, name, roles, secret_hash, created_at, revoked_at, tenant) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [
        r.id,
        storableText(r.name),
        r.roles,
        r.secretHash,
        r.createdAt.getTime(),
        r.revokedAt?.getTime() ?? null,
        r.tenant,
      ],
    );
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.byId.get(id);
  }

  async list(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const { rows } =
      filter.tenant === undefined
        ? await this.query<ApiKeyRow>(
            'SELECT id, name, roles, secret_hash, created_at, revoked_at, tenant FROM api_keys ORDER BY created_at, id',
          )
        : await this.query<ApiKeyRow>(
            'SELECT id, name, roles, secret_hash, created_at, revoked_at, tenant FROM api_keys WHERE tenant = $1 ORDER BY created_at, id',
            [filter.tenant],
          );
    return rows.map(toApiKey);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const res = await this.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
      at.getTime(),
      id,
    ]);
    return (res.rowCount ?? 0) > 0;
  }
}
