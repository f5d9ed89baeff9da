import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoCall } from './dynamodb-audit';
import type { AccessRules, PolicyStore, ResourcePolicy } from './policy-store';

/*
 * Per-resource policy items in Keyplane's table (next to keys, leases, API keys and audit records):
 *
 *   Policy   pk = POLICY#<resourceId>   sk = POLICY   resourceId S, updatedAt N (epoch ms), and the rule
 *                                                     lists that are set: allowIps L<S>, denyIps L<S>,
 *                                                     allowOrigins L<S> (an absent list does not restrict)
 *
 * One item per resource: a put replaces it whole, so a list left out of the new policy is gone.
 * Reads are strongly consistent, so a policy applies to the next delivery after its PUT answers.
 * Only GetItem, PutItem and DeleteItem are used (all allowed by the function's role in serverless.yml).
 */

type Item = Record<string, AttributeValue>;

const POLICY_PREFIX = 'POLICY#';
const POLICY_SORT = 'POLICY';
const RULE_FIELDS = ['allowIps', 'denyIps', 'allowOrigins'] as const satisfies readonly (keyof AccessRules)[];

function policyKey(resourceId: string): Item {
  return { pk: { S: POLICY_PREFIX + resourceId }, sk: { S: POLICY_SORT } };
}

function corrupt(item: Item, attr: string): Error {
  return new Error(`Corrupt DynamoDB item ${item.pk?.S ?? '?'}: attribute ${attr} is missing or has the wrong type`);
}

function toItem(policy: ResourcePolicy): Item {
  const item: Item = {
    ...policyKey(policy.resourceId),
    resourceId: { S: policy.resourceId },
    updatedAt: { N: String(policy.updatedAt.getTime()) },
  };
  for (const field of RULE_FIELDS) {
    const list = policy[field];
    if (list !== undefined) item[field] = { L: list.map((entry) => ({ S: entry })) };
  }
  return item;
}

function readList(item: Item, attr: string): string[] | undefined {
  const value = item[attr];
  if (value === undefined) return undefined;
  if (value.L === undefined) throw corrupt(item, attr);
  return value.L.map((entry) => {
    if (entry.S === undefined) throw corrupt(item, attr);
    return entry.S;
  });
}

function fromItem(item: Item): ResourcePolicy {
  const resourceId = item.resourceId?.S;
  if (resourceId === undefined) throw corrupt(item, 'resourceId');
  const updatedAt = Number(item.updatedAt?.N);
  if (!Number.isFinite(updatedAt)) throw corrupt(item, 'updatedAt');
  const policy: ResourcePolicy = { resourceId, updatedAt: new Date(updatedAt) };
  for (const field of RULE_FIELDS) {
    const list = readList(item, field);
    if (list !== undefined) policy[field] = list;
  }
  return policy;
}

/** Per-resource access policies in the key store's DynamoDB table (layout above), through its outage mapping. */
export class DynamoDbPolicyStore implements PolicyStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly call: DynamoCall,
  ) {}

  async getPolicy(resourceId: string): Promise<ResourcePolicy | undefined> {
    const res = await this.call(() =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: policyKey(resourceId), ConsistentRead: true }),
      ),
    );
    return res.Item && fromItem(res.Item);
  }

  async putPolicy(policy: ResourcePolicy): Promise<void> {
    if (!Number.isFinite(policy.updatedAt.getTime())) throw new Error('A policy needs a valid updatedAt');
    await this.call(() => this.client.send(new PutItemCommand({ TableName: this.tableName, Item: toItem(policy) })));
  }

  async deletePolicy(resourceId: string): Promise<boolean> {
    const res = await this.call(() =>
      this.client.send(
        new DeleteItemCommand({ TableName: this.tableName, Key: policyKey(resourceId), ReturnValues: 'ALL_OLD' }),
      ),
    );
    return Object.keys(res.Attributes ?? {}).length > 0;
  }
}
