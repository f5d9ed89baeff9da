import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { AccessRules, ResourcePolicy } from '../records';
import type { PolicyRepository } from '../repositories';
import { ItemReader, itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';

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

const RULE_FIELDS = ['allowIps', 'denyIps', 'allowOrigins'] as const satisfies readonly (keyof AccessRules)[];

const policyKey = (resourceId: string): Item => itemKey(LAYOUT.policy.prefix + resourceId, LAYOUT.policy.sort);

/** A policy as its item (also written by the transfer insert). */
export function policyItem(policy: ResourcePolicy): Item {
  const values: Record<string, unknown> = { resourceId: policy.resourceId, updatedAt: policy.updatedAt.getTime() };
  for (const field of RULE_FIELDS) values[field] = policy[field];
  return { ...policyKey(policy.resourceId), ...toItem(values) };
}

/** A policy item as a ResourcePolicy (also read by the transfer scan). */
export function fromItem(item: Item): ResourcePolicy {
  const r = new ItemReader(item);
  const policy: ResourcePolicy = { resourceId: r.string('resourceId'), updatedAt: r.date('updatedAt') };
  for (const field of RULE_FIELDS) if (r.has(field)) policy[field] = r.strings(field);
  return policy;
}

/** Per-resource access policies in the backend's DynamoDB table (layout above). */
export class DynamoPolicyRepository implements PolicyRepository {
  constructor(private readonly table: DynamoTable) {}

  async get(resourceId: string): Promise<ResourcePolicy | undefined> {
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: policyKey(resourceId), ConsistentRead: true }),
    );
    return res.Item && fromItem(res.Item);
  }

  async put(policy: ResourcePolicy): Promise<void> {
    if (!Number.isFinite(policy.updatedAt.getTime())) throw new Error('A policy needs a valid updatedAt');
    await this.table.client.send(new PutItemCommand({ TableName: this.table.name, Item: policyItem(policy) }));
  }

  async delete(resourceId: string): Promise<boolean> {
    const res = await this.table.client.send(
      new DeleteItemCommand({ TableName: this.table.name, Key: policyKey(resourceId), ReturnValues: 'ALL_OLD' }),
    );
    return Object.keys(res.Attributes ?? {}).length > 0;
  }
}
