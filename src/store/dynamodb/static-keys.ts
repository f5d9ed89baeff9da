import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ResourceRaceError } from '../ownership';
import { KeyRaceError, StaticKeyExistsError, type StaticKeyRecord, type StoredKey } from '../records';
import type { StaticKeyRepository } from '../repositories';
import { isRaceReason, unexplainedCancellation } from './errors';
import { ItemReader, itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';
import { keyPut } from './keys';
import { claimItems, registerTenant } from './resources';
import { transact } from './transact';

const staticKey = (resourceId: string): Item => itemKey(LAYOUT.static.prefix + resourceId, LAYOUT.static.sort);

/** A static key item as a record (also read by the transfer scan). */
export function toStaticKey(item: Item): StaticKeyRecord {
  const r = new ItemReader(item);
  return { resourceId: r.string('resourceId'), kid: r.string('kid'), createdAt: r.date('createdAt') };
}

/** Static key items (`STATIC#<resourceId>`), written in one transaction with their key item and owner (kind static). */
export class DynamoStaticKeyRepository implements StaticKeyRepository {
  constructor(private readonly table: DynamoTable) {}

  async get(resourceId: string): Promise<StaticKeyRecord | undefined> {
    const res = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: staticKey(resourceId), ConsistentRead: true }),
    );
    return res.Item && toStaticKey(res.Item);
  }

  async put(record: StaticKeyRecord, key: StoredKey, tenant: string): Promise<void> {
    const staticPut: TransactWriteItem = {
      Put: {
        TableName: this.table.name,
        Item: {
          ...staticKey(record.resourceId),
          ...toItem({ resourceId: record.resourceId, kid: record.kid, createdAt: record.createdAt.getTime() }),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
    const claim = claimItems(
      this.table,
      record.resourceId,
      { tenant, kind: 'static', expected: 'absent' },
      record.createdAt,
    );
    await registerTenant(this.table, tenant);
    const reasons = await transact(this.table, [staticPut, keyPut(this.table, key), ...claim]);
    if (!reasons) return;
    if (isRaceReason(reasons[0])) {
      const existing = reasons[0]?.Item ? toStaticKey(reasons[0].Item) : await this.get(record.resourceId);
      // A conflict without a stored record was a concurrent transaction still in flight: retry.
      if (!existing) throw new KeyRaceError(key.kid);
      throw new StaticKeyExistsError(existing);
    }
    if (isRaceReason(reasons[1])) throw new KeyRaceError(key.kid);
    if (reasons.slice(2).some(isRaceReason)) throw new ResourceRaceError(record.resourceId);
    throw unexplainedCancellation(reasons);
  }
}
