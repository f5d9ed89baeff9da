import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { BadRequestError } from '../../errors';
import { ResourceRaceError } from '../ownership';
import { KeyRaceError, LeaseRaceError, type IssueCommit, type Lease, type StoredKey } from '../records';
import type { LeaseRepository } from '../repositories';
import { awsErrorName } from '../../aws-errors';
import { isRaceReason, unexplainedCancellation } from './errors';
import { ItemReader, itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';
import { keyPut } from './keys';
import { claimItems, registerTenant } from './resources';
import { MAX_TRANSACTION_ITEMS, transact } from './transact';

const leaseKey = (resourceId: string): Item => itemKey(LAYOUT.lease.prefix + resourceId, LAYOUT.lease.sort);

/** A lease item as a Lease (also read by the transfer scan). */
export function toLease(item: Item): Lease {
  const r = new ItemReader(item);
  return {
    resourceId: r.string('resourceId'),
    owner: r.string('owner'),
    kids: r.strings('kids'),
    rotating: r.boolean('rotating'),
    expiresAt: r.date('expiresAt'),
    version: r.number('version'),
  };
}

function assertDistinctKids(keys: StoredKey[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.kid)) throw new Error(`KID ${key.kid} appears twice in one commit`);
    seen.add(key.kid);
  }
}

/**
 * Lease items (`LEASE#<resourceId>`): a commit is one TransactWriteItems of the lease (conditional on
 * the version read, or on absence), its new key items (each conditional on absence) and the resource's
 * ownership claim (see resources.ts).
 */
export class DynamoLeaseRepository implements LeaseRepository {
  constructor(
    private readonly table: DynamoTable,
    /** How long after `expiresAt` DynamoDB TTL may delete a lease item. */
    private readonly ttlMarginSeconds: number,
  ) {}

  async get(resourceId: string): Promise<Lease | undefined> {
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: leaseKey(resourceId), ConsistentRead: true }),
    );
    return res.Item && toLease(res.Item);
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    const { lease, expectedLeaseVersion, newKeys, claim } = commit;
    const claimed = claimItems(this.table, lease.resourceId, claim, newKeys[0]?.createdAt ?? new Date());
    const room = MAX_TRANSACTION_ITEMS - 1 - claimed.length;
    if (newKeys.length > room) {
      // A request with this many new KIDs is the caller's to split, not our bug: 400, not 500.
      throw new BadRequestError(
        `Cannot commit ${newKeys.length} new keys at once: a DynamoDB transaction holds at most ` +
          `${room} keys plus the lease and the resource's owner`,
      );
    }
    assertDistinctKids(newKeys);
    if (claim.expected === 'absent') await registerTenant(this.table, claim.tenant);
    const items: TransactWriteItem[] = [
      { Put: this.leasePut(lease, expectedLeaseVersion) },
      ...newKeys.map((k) => keyPut(this.table, k)),
      ...claimed,
    ];
    const reasons = await transact(this.table, items);
    if (!reasons) return;
    if (isRaceReason(reasons[0])) {
      const existing = reasons[0]?.Item ? toLease(reasons[0].Item) : await this.get(lease.resourceId);
      throw new LeaseRaceError(lease.resourceId, existing);
    }
    const keyIndex = reasons.findIndex((r, i) => i > 0 && i <= newKeys.length && isRaceReason(r));
    const racedKey = newKeys[keyIndex - 1];
    if (keyIndex > 0 && racedKey) throw new KeyRaceError(racedKey.kid);
    // A lost claim: another tenant (or process) got the resource first; the service's re-read decides.
    if (reasons.slice(newKeys.length + 1).some(isRaceReason)) throw new ResourceRaceError(lease.resourceId);
    throw unexplainedCancellation(reasons);
  }

  async delete(resourceId: string, owner?: string): Promise<boolean> {
    // `owner` is a DynamoDB reserved word: named through ExpressionAttributeNames.
    const onlyOwner =
      owner === undefined
        ? {}
        : {
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: toItem({ ':owner': owner }),
          };
    try {
      const res = await this.table.client.send(
        new DeleteItemCommand({
          TableName: this.table.name,
          Key: leaseKey(resourceId),
          ReturnValues: 'ALL_OLD',
          ...onlyOwner,
        }),
      );
      return Object.keys(res.Attributes ?? {}).length > 0;
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  private leasePut(lease: Lease, expectedVersion: number | undefined): NonNullable<TransactWriteItem['Put']> {
    const expiresAt = lease.expiresAt.getTime();
    return {
      TableName: this.table.name,
      Item: {
        ...leaseKey(lease.resourceId),
        ...toItem({
          resourceId: lease.resourceId,
          owner: lease.owner,
          kids: lease.kids,
          rotating: lease.rotating,
          expiresAt,
          version: lease.version,
          ttl: Math.ceil(expiresAt / 1000) + this.ttlMarginSeconds,
        }),
      },
      ...(expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: toItem({ ':expected': expectedVersion }),
          }),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
  }
}
