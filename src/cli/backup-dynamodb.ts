/**
 * Backup and restore of a DynamoDB store as an export: every item of KEYPLANE_TABLE (keys still sealed)
 * in the same single-file container as SQLite backups, table `keyplane_backup_items`. Disaster recovery
 * of a DynamoDB table is better served by point-in-time recovery; this export is portable and checkable.
 */
import { type AttributeValue, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import type { Config } from '../config';
import { awsClientBase } from '../compose/backends';
import { LEGACY_SEALER } from '../keys/rewrap';
import { dynamoDbClientTimeouts } from '../store/dynamodb';
import { toStoredKey } from '../store/dynamodb/keys';
import { partialName, sealBackupFile } from '../store/sqlite/backup-file';
import type { BackupManifest } from './backup';
import { CommandFailedError } from './cli-errors';
import { commandCipher } from './store-access';
import { VERSION } from '../version';

type Item = Record<string, AttributeValue>;
const ITEMS = 'keyplane_backup_items';

/** JSON of an item with binary attributes as `{ "$b64": ... }`. */
function itemJson(item: Item): string {
  return JSON.stringify(item, (_k, v: unknown) =>
    v instanceof Uint8Array ? { $b64: Buffer.from(v).toString('base64') } : v,
  );
}

function parseItem(json: string): Item {
  return JSON.parse(json, (_k, v: unknown) => {
    const b64 = (v as { $b64?: unknown } | null)?.$b64;
    return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : v;
  }) as Item;
}

function client(config: Config): DynamoDBClient {
  return new DynamoDBClient({ ...awsClientBase(config), ...dynamoDbClientTimeouts() });
}

/** Exports every item of the table (consistent Scan, page by page) into a new backup file. */
export async function backupDynamoDb(config: Config, out: string): Promise<BackupManifest> {
  const table = config.table ?? '';
  const cipher = commandCipher(config);
  const dynamo = client(config);
  const snapshot = partialName(out);
  const sealedBy: Record<string, number> = {};
  let keys = 0;
  fs.closeSync(fs.openSync(snapshot, 'wx', 0o600));
  const db = new Database(snapshot);
  try {
    db.exec(`CREATE TABLE ${ITEMS} (pk TEXT NOT NULL, sk TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (pk, sk))`);
    const insert = db.prepare(`INSERT INTO ${ITEMS} (pk, sk, item) VALUES (?, ?, ?)`);
    let start: Item | undefined;
    do {
      const page = await dynamo.send(
        new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      const items = page.Items ?? [];
      db.transaction(() => {
        for (const item of items) insert.run(item.pk?.S ?? '', item.sk?.S ?? '', itemJson(item));
      })();
      for (const item of items.filter((i) => i.pk?.S?.startsWith('KEY#') && i.sk?.S === 'KEY')) {
        const by = cipher.sealedBy?.(toStoredKey(item).sealed) ?? LEGACY_SEALER;
        sealedBy[by] = (sealedBy[by] ?? 0) + 1;
        keys++;
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    db.close();
    const manifest: BackupManifest = {
      format: 'keyplane-backup',
      version: 1,
      createdAt: new Date().toISOString(),
      keyplaneVersion: VERSION,
      store: 'dynamodb',
      cipher: cipher.name,
      sealingKey: config.kmsKeyId ?? (await cipher.sealingKeyId?.()) ?? cipher.name,
      sealedBy,
      keys,
    };
    sealBackupFile(snapshot, out, manifest);
    return manifest;
  } finally {
    if (db.open) db.close();
    fs.rmSync(snapshot, { force: true });
    dynamo.destroy();
  }
}

/** The exported items of a DynamoDB backup, in (pk, sk) order. */
export function backupItems(file: string): Item[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT item FROM ${ITEMS} ORDER BY pk, sk`).all() as Array<{ item: string }>;
    return rows.map((r) => parseItem(r.item));
  } finally {
    db.close();
  }
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
