import { GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../aws-errors';
import type { ApiKeyRecord } from '../records';
import type { ApiKeyRepository } from '../repositories';
import { ALL_TENANTS, DEFAULT_TENANT } from '../../domain/tenants';
import { registerTenant } from './resources';
import { ItemReader, itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';

const apiKeyKey = (id: string): Item => itemKey(LAYOUT.apiKeyPartition, id);

/**
 * An API key item. Items from before tenants have no `tenant`: they read as `default`, admin keys as `*`
 * (they administered everything then, and still do) — the same as SQLite's migration writes. Also read by
 * the transfer scan.
 */
export function toApiKey(item: Item): ApiKeyRecord {
  const r = new ItemReader(item);
  const roles = r.strings('roles');
  const record: ApiKeyRecord = {
    id: r.string('id'),
    name: r.string('name'),
    roles,
    secretHash: r.bytes('secretHash'),
    createdAt: r.date('createdAt'),
    tenant: r.optionalString('tenant') ?? (roles.includes('admin') ? ALL_TENANTS : DEFAULT_TENANT),
  };
  if (r.has('revokedAt')) record.revokedAt = r.date('revokedAt');
  return record;
}

/** An API key as its item (also written by the transfer insert). */
export function apiKeyItem(record: ApiKeyRecord): Item {
  return {
    ...apiKeyKey(record.id),
    ...toItem({
      id: record.id,
      name: record.name,
      roles: record.roles,
      secretHash: record.secretHash,
      createdAt: record.createdAt.getTime(),
      revokedAt: record.revokedAt?.getTime(),
      tenant: record.tenant,
    }),
  };
}

/** API key items: all in the `APIKEY` partition (sort key = id), so listing them is one Query. */
export class DynamoApiKeyRepository implements ApiKeyRepository {
  constructor(private readonly table: DynamoTable) {}

  async put(record: ApiKeyRecord): Promise<void> {
    const Item = apiKeyItem(record);
    await registerTenant(this.table, record.tenant);
    try {
      await this.table.client.send(
        new PutItemCommand({ TableName: this.table.name, Item, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException')
        throw new Error(`API key ${record.id} already exists`);
      throw err;
    }
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: apiKeyKey(id), ConsistentRead: true }),
    );
    return res.Item && toApiKey(res.Item);
  }

  async list(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const records: ApiKeyRecord[] = [];
    let startKey: Item | undefined;
    do {
      const res = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.name,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: toItem({ ':pk': LAYOUT.apiKeyPartition }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      records.push(...(res.Items ?? []).map(toApiKey));
      startKey = res.LastEvaluatedKey;
    } while (startKey);
    return records
      .filter((r) => filter.tenant === undefined || r.tenant === filter.tenant)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    try {
      await this.table.client.send(
        new UpdateItemCommand({
          TableName: this.table.name,
          Key: apiKeyKey(id),
          UpdateExpression: 'SET revokedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
          ExpressionAttributeValues: toItem({ ':at': at.getTime() }),
        }),
      );
      return true;
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }
}
