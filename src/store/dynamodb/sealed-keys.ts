import { ConditionalCheckFailedException, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { SealedKeyChange, SealedKeyPage, SealedKeyStore } from '../../keys/rewrap';
import { itemKey, LAYOUT, type DynamoTable, type Item } from './items';
import { toStoredKey } from './keys';

/**
 * The key items of a DynamoDB table for re-wrap and counting by a command: a paged Scan (consistent
 * reads, only `KEY#` items kept) and conditional UpdateItems that replace `sealed` only while it still
 * holds the value that was read. The cursor is the Scan's LastEvaluatedKey as JSON.
 */
export class DynamoSealedKeyStore implements SealedKeyStore {
  constructor(private readonly table: DynamoTable) {}

  async page(cursor: string | undefined, limit: number): Promise<SealedKeyPage> {
    const res = await this.table.client.send(
      new ScanCommand({
        TableName: this.table.name,
        ConsistentRead: true,
        Limit: limit,
        FilterExpression: 'begins_with(pk, :prefix) AND sk = :sort',
        ExpressionAttributeValues: { ':prefix': { S: LAYOUT.key.prefix }, ':sort': { S: LAYOUT.key.sort } },
        ExclusiveStartKey: cursor === undefined ? undefined : (JSON.parse(cursor) as Item),
      }),
    );
    return {
      keys: (res.Items ?? []).map(toStoredKey),
      next: res.LastEvaluatedKey ? JSON.stringify(res.LastEvaluatedKey) : undefined,
    };
  }

  async replaceSealed(changes: SealedKeyChange[]): Promise<number> {
    const applied = await Promise.all(changes.map((c) => this.replaceOne(c)));
    return applied.filter(Boolean).length;
  }

  private async replaceOne(change: SealedKeyChange): Promise<boolean> {
    try {
      await this.table.client.send(
        new UpdateItemCommand({
          TableName: this.table.name,
          Key: itemKey(LAYOUT.key.prefix + change.kid, LAYOUT.key.sort),
          UpdateExpression: 'SET sealed = :next',
          ConditionExpression: 'sealed = :expected',
          ExpressionAttributeValues: { ':next': { B: change.next }, ':expected': { B: change.expected } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.table.client.destroy();
  }
}
