import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { ResourceClaim, ResourceOwner, ResourceRepository, TenantRepository, TenantSummary } from '../ownership';
import type { ApiKeyRepository } from '../repositories';
import { ServiceUnavailableError } from '../../errors';
import { isRaceReason, unexplainedCancellation } from './errors';
import { ItemReader, itemKey, toItem, type DynamoTable, type Item } from './items';
import { backoff, transact } from './transact';

/*
 * Tenant items in Keyplane's table (see items.ts for the rest):
 *
 *   Owner      pk = RESOURCE#<resourceId>    sk = RESOURCE     resourceId S, tenant S, kind S ('speke'|'static'),
 *                                                             createdAt N
 *   Member     pk = TENANTRES#<tenant>       sk = <resourceId> (no attributes): one per resource a tenant owns,
 *                                                             so counting a tenant's resources is one Query
 *   Tenant     pk = TENANT                   sk = <tenant>     tenant S: every tenant a key or resource used
 *   Marker     pk = META                     sk = MIGRATION#tenants   at N: the table was migrated (migrate.ts)
 *
 * The owner and member items are written in the same TransactWriteItems as the keys they come with
 * (owner conditional on absence, or a ConditionCheck that it is unchanged). The tenant item is put
 * (idempotently) before that transaction, outside it: every transaction of a tenant would otherwise
 * write one hot item and conflict with the others; a tenant listed whose claim then failed is harmless.
 */

/** Partition keys and sort keys of the tenant items. */
export const TENANT_LAYOUT = {
  owner: { prefix: 'RESOURCE#', sort: 'RESOURCE' },
  memberPrefix: 'TENANTRES#',
  tenantPartition: 'TENANT',
  marker: { pk: 'META', sk: 'MIGRATION#tenants' },
} as const;

/** The primary key of a resource's owner item. */
const ownerKey = (resourceId: string): Item =>
  itemKey(TENANT_LAYOUT.owner.prefix + resourceId, TENANT_LAYOUT.owner.sort);

/** An owner item as a ResourceOwner (also read by the transfer scan). */
export function toOwner(item: Item): ResourceOwner {
  const r = new ItemReader(item);
  return {
    resourceId: r.string('resourceId'),
    tenant: r.string('tenant'),
    kind: r.string('kind') === 'static' ? 'static' : 'speke',
    createdAt: r.date('createdAt'),
  };
}

/** The owner and member puts of a new claim (owner conditional on absence). */
export function ownerPuts(table: DynamoTable, owner: ResourceOwner): TransactWriteItem[] {
  return [
    {
      Put: {
        TableName: table.name,
        Item: {
          ...ownerKey(owner.resourceId),
          ...toItem({
            resourceId: owner.resourceId,
            tenant: owner.tenant,
            kind: owner.kind,
            createdAt: owner.createdAt.getTime(),
          }),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    { Put: { TableName: table.name, Item: itemKey(TENANT_LAYOUT.memberPrefix + owner.tenant, owner.resourceId) } },
  ];
}

/** How often an owner put that lost to a transaction still in flight is tried again before a 503. */
const OWNER_PUT_ATTEMPTS = 6;

/**
 * Puts a new owner (and member) unless an owner is there. Undefined when it wrote it, else the owner it
 * found. A conflict with another writer's transaction still in flight is retried until that owner shows
 * up: never taken as written, or an import would bind keys to a resource another tenant is claiming.
 */
export async function putOwner(table: DynamoTable, owner: ResourceOwner): Promise<ResourceOwner | undefined> {
  for (let attempt = 0; ; attempt++) {
    const reasons = await transact(table, ownerPuts(table, owner));
    if (!reasons) return undefined;
    if (reasons.some((r) => r.Code !== undefined && r.Code !== 'None' && !isRaceReason(r))) {
      throw unexplainedCancellation(reasons);
    }
    const res = await table.client.send(
      new GetItemCommand({ TableName: table.name, Key: ownerKey(owner.resourceId), ConsistentRead: true }),
    );
    if (res.Item) return toOwner(res.Item);
    if (attempt + 1 >= OWNER_PUT_ATTEMPTS) {
      throw new ServiceUnavailableError('DynamoDB unavailable: a resource owner write kept conflicting', 1);
    }
    await backoff(attempt);
  }
}

/** The transaction items of a claim: a new owner (and member), or a check that the owner is unchanged. */
export function claimItems(
  table: DynamoTable,
  resourceId: string,
  claim: ResourceClaim,
  at: Date,
): TransactWriteItem[] {
  if (claim.expected === 'absent') {
    return ownerPuts(table, { resourceId, tenant: claim.tenant, kind: claim.kind, createdAt: at });
  }
  return [
    {
      ConditionCheck: {
        TableName: table.name,
        Key: ownerKey(resourceId),
        ConditionExpression: 'tenant = :tenant AND kind = :kind',
        ExpressionAttributeValues: toItem({ ':tenant': claim.tenant, ':kind': claim.kind }),
      },
    },
  ];
}

/** Records that a tenant exists (idempotent), for the tenant listing. */
export async function registerTenant(table: DynamoTable, tenant: string): Promise<void> {
  await table.client.send(
    new PutItemCommand({
      TableName: table.name,
      Item: { ...itemKey(TENANT_LAYOUT.tenantPartition, tenant), ...toItem({ tenant }) },
    }),
  );
}

/** Runs a Query to the end, handing each page to `onPage`. */
async function queryAll(
  table: DynamoTable,
  pk: string,
  select: 'COUNT' | undefined,
  onPage: (page: { items: Item[]; count: number }) => void,
): Promise<void> {
  let startKey: Item | undefined;
  do {
    const res = await table.client.send(
      new QueryCommand({
        TableName: table.name,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: toItem({ ':pk': pk }),
        ConsistentRead: true,
        ...(select ? { Select: select } : {}),
        ExclusiveStartKey: startKey,
      }),
    );
    onPage({ items: res.Items ?? [], count: res.Count ?? 0 });
    startKey = res.LastEvaluatedKey;
  } while (startKey);
}

/** Owner items (`RESOURCE#<resourceId>`), read strongly consistent once the table is migrated. */
export class DynamoResourceRepository implements ResourceRepository {
  constructor(
    private readonly table: DynamoTable,
    private readonly migrated: () => Promise<void>,
  ) {}

  async get(resourceId: string): Promise<ResourceOwner | undefined> {
    await this.migrated();
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: ownerKey(resourceId), ConsistentRead: true }),
    );
    return res.Item && toOwner(res.Item);
  }
}

/** Tenants from the `TENANT` partition and the API keys, resources counted per member partition. */
export class DynamoTenantRepository implements TenantRepository {
  constructor(
    private readonly table: DynamoTable,
    private readonly apiKeys: ApiKeyRepository,
    private readonly migrated: () => Promise<void>,
  ) {}

  async list(): Promise<TenantSummary[]> {
    await this.migrated();
    const counts = new Map<string, TenantSummary>();
    const entry = (tenant: string) => {
      const found = counts.get(tenant) ?? { tenant, apiKeys: 0, resources: 0 };
      counts.set(tenant, found);
      return found;
    };
    await queryAll(this.table, TENANT_LAYOUT.tenantPartition, undefined, ({ items }) => {
      for (const item of items) entry(new ItemReader(item).string('tenant'));
    });
    for (const key of await this.apiKeys.list()) entry(key.tenant).apiKeys++;
    await Promise.all(
      [...counts.values()].map((summary) =>
        queryAll(this.table, TENANT_LAYOUT.memberPrefix + summary.tenant, 'COUNT', ({ count }) => {
          summary.resources += count;
        }),
      ),
    );
    return [...counts.values()].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
  }
}
