import type { TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../../errors';
import type { StoredKey } from '../records';
import type { KeyRepository } from '../repositories';
import { ItemReader, itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';
import { backoff, MAX_UNPROCESSED_RETRIES } from './transact';

/** DynamoDB's limit on keys in one BatchGetItem call. */
const MAX_BATCH_GET_KEYS = 100;

const keyOf = (kid: string): Item => itemKey(LAYOUT.key.prefix + kid, LAYOUT.key.sort);

/** A key item as a StoredKey (also read by the sealed-key scan of `sealed-keys.ts` and the transfer scan). */
export function toStoredKey(item: Item): StoredKey {
  const r = new ItemReader(item);
  return {
    kid: r.string('kid'),
    resourceId: r.string('resourceId'),
    sealed: r.bytes('sealed'),
    origin: r.string('origin') === 'static' ? 'static' : 'speke',
    createdAt: r.date('createdAt'),
  };
}

/** The conditional put of a new key item (only if absent), for issuance and static-key transactions. */
export function keyPut(table: DynamoTable, key: StoredKey): TransactWriteItem {
  return {
    Put: {
      TableName: table.name,
      Item: {
        ...keyOf(key.kid),
        ...toItem({
          kid: key.kid,
          resourceId: key.resourceId,
          sealed: key.sealed,
          origin: key.origin,
          createdAt: key.createdAt.getTime(),
        }),
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/** Key items (`KEY#<kid>`), read with strongly consistent BatchGetItem in chunks of 100. */
export class DynamoKeyRepository implements KeyRepository {
  constructor(private readonly table: DynamoTable) {}

  async get(kids: string[]): Promise<Map<string, StoredKey>> {
    const unique = [...new Set(kids)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += MAX_BATCH_GET_KEYS) chunks.push(unique.slice(i, i + MAX_BATCH_GET_KEYS));
    const items = (await Promise.all(chunks.map((chunk) => this.batchGet(chunk)))).flat();
    const found = new Map<string, StoredKey>();
    for (const item of items) {
      const key = toStoredKey(item);
      found.set(key.kid, key);
    }
    return found;
  }

  /** One BatchGetItem chunk, re-asking for UnprocessedKeys with backoff. */
  private async batchGet(kids: string[]): Promise<Item[]> {
    const { client, name } = this.table;
    const items: Item[] = [];
    let keys: Item[] = kids.map(keyOf);
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) {
        throw new ServiceUnavailableError('DynamoDB unavailable: BatchGetItem keeps returning unprocessed keys', 1);
      }
      if (attempt > 0) await backoff(attempt);
      const request = { [name]: { Keys: keys, ConsistentRead: true } };
      const res = await client.send(new BatchGetItemCommand({ RequestItems: request }));
      items.push(...(res.Responses?.[name] ?? []));
      keys = res.UnprocessedKeys?.[name]?.Keys ?? [];
    }
    return items;
  }
}
