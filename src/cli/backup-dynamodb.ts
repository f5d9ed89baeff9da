/**
 * Backup and restore of a DynamoDB store as an export: every item of KEYPLANE_TABLE (keys still sealed)
 * in the same single-file container as SQLite backups, table `keyplane_backup_items`. Disaster recovery
 * of a DynamoDB table is better served by point-in-time recovery; this export is portable and checkable.
 */
import { type AttributeValue, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config';
import { awsClientBase } from '../compose/backends';
import { dynamoDbClientTimeouts } from '../store/dynamodb';
import { toStoredKey } from '../store/dynamodb/keys';
import type { BackupManifest } from './backup';
import { backupJson, parseBackupJson, readExportRows, SealerTally, writeExportBackup } from './backup-export';
import { CommandFailedError } from './cli-errors';
import { commandCipher } from './store-access';

type Item = Record<string, AttributeValue>;
const ITEMS = 'keyplane_backup_items';

function client(config: Config): DynamoDBClient {
  return new DynamoDBClient({ ...awsClientBase(config), ...dynamoDbClientTimeouts() });
}

async function* scanPages(dynamo: DynamoDBClient, table: string, tally: SealerTally): AsyncGenerator<unknown[][]> {
  let start: Item | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    const items = page.Items ?? [];
    for (const item of items.filter((i) => i.pk?.S?.startsWith('KEY#') && i.sk?.S === 'KEY'))
      tally.add(toStoredKey(item).sealed);
    yield items.map((item) => [item.pk?.S ?? '', item.sk?.S ?? '', backupJson(item)]);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
}

/** Exports every item of the table (consistent Scan, page by page) into a new backup file. */
export async function backupDynamoDb(config: Config, out: string): Promise<BackupManifest> {
  const tally = new SealerTally(commandCipher(config));
  const dynamo = client(config);
  try {
    const table = {
      name: ITEMS,
      columns: 'pk TEXT NOT NULL, sk TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (pk, sk)',
      width: 3,
    };
    return await writeExportBackup(out, table, scanPages(dynamo, config.table ?? '', tally), () =>
      tally.manifest(config, 'dynamodb'),
    );
  } finally {
    dynamo.destroy();
  }
}

/** The exported items of a DynamoDB backup, in (pk, sk) order. */
export function backupItems(file: string): Item[] {
  return readExportRows<{ item: string }>(file, ITEMS, 'pk, sk').map((r) => parseBackupJson(r.item) as Item);
}

/** Whether the table holds any item. */
export async function tableHasItems(config: Config): Promise<boolean> {
  const dynamo = client(config);
  try {
    const res = await dynamo.send(new ScanCommand({ TableName: config.table, Limit: 1 }));
    return (res.Items ?? []).length > 0;
  } finally {
    dynamo.destroy();
  }
}

/** Writes every exported item back (PutItem; with `overwrite` false only where absent). */
export async function restoreDynamoDb(config: Config, items: Item[], overwrite: boolean): Promise<number> {
  const dynamo = client(config);
  let written = 0;
  try {
    for (let i = 0; i < items.length; i += 25) {
      await Promise.all(
        items.slice(i, i + 25).map(async (Item) => {
          await dynamo.send(
            new PutItemCommand({
              TableName: config.table,
              Item,
              ConditionExpression: overwrite ? undefined : 'attribute_not_exists(pk)',
            }),
          );
          written++;
        }),
      );
    }
  } catch (err) {
    throw new CommandFailedError(`restore stopped after ${written} items: ${(err as Error).message}`);
  } finally {
    dynamo.destroy();
  }
  return written;
}
