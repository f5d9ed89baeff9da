/**
 * Backup and restore of a PostgreSQL store as an export: every record of the database through
 * Backend.transfer's scan (keys still sealed), in the same single-file container as the other backups,
 * table `keyplane_backup_records`. Disaster recovery of the database itself is pg_dump / point-in-time
 * recovery's job (docs/operations.md); this export is portable, checkable and restorable by Keyplane.
 */
import type { Config } from '../config';
import type { Backend } from '../store/backend';
import { TRANSFER_KINDS, identityOf, type TransferRecord, type TransferRepository } from '../store/transfer';
import type { BackupManifest } from './backup';
import { backupJson, parseBackupJson, readExportRows, SealerTally, writeExportBackup } from './backup-export';
import { CommandFailedError, UsageError } from './cli-errors';
import { commandCipher } from './store-access';

const RECORDS = 'keyplane_backup_records';
const TABLE = {
  name: RECORDS,
  columns: 'seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, identity TEXT NOT NULL, record TEXT NOT NULL',
  width: 4,
};
const PAGE = 500;

/** The database's backend for a command: a small pool and no audit pruner (a command copies, it does not maintain). */
function postgresStore(config: Config): Backend {
  const database = config.database;
  if (database === undefined) throw new UsageError('KEYPLANE_DATABASE_URL is required when KEYPLANE_STORE=postgres');
  const { openPostgresBackend } = require('../store/postgres') as typeof import('../store/postgres');
  return openPostgresBackend({ url: database.url, poolSize: 4, statementTimeoutMs: database.statementTimeoutMs });
}

function transferOf(store: Backend): TransferRepository {
  if (!store.transfer) throw new CommandFailedError('this PostgreSQL store cannot be scanned (no transfer support)');
  return store.transfer;
}

/** The resource a record belongs to, for kinds owned by a resource. */
function ownerOf(r: TransferRecord): string | undefined {
  return ['key', 'staticKey', 'lease', 'policy'].includes(r.kind)
    ? (r.record as { resourceId: string }).resourceId
    : undefined;
}

/**
 * Every record, page by page. The scan visits resources before keys but is not one snapshot: a resource
 * created while it ran can own a key the scan saw later, so such owners are looked up and added at the end.
 */
async function* recordPages(transfer: TransferRepository, tally: SealerTally): AsyncGenerator<unknown[][]> {
  const seen = new Set<string>();
  const owners = new Set<string>();
  let seq = 0;
  const row = (r: TransferRecord) => [seq++, r.kind, identityOf(r), backupJson(r.record)];
  let cursor: string | undefined;
  do {
    const page = await transfer.scan(cursor, PAGE);
    for (const r of page.records) {
      if (r.kind === 'resource') seen.add(r.record.resourceId);
      if (r.kind === 'key') tally.add(r.record.sealed);
      const owner = ownerOf(r);
      if (owner !== undefined) owners.add(owner);
    }
    yield page.records.map(row);
    cursor = page.next;
  } while (cursor !== undefined);
  const late: TransferRecord[] = [];
  for (const id of [...owners].filter((o) => !seen.has(o))) {
    const found = await transfer.find('resource', id);
    if (found) late.push(found);
  }
  yield late.map(row);
}

/** Exports every record of the database into a new backup file. */
export async function backupPostgres(config: Config, out: string): Promise<BackupManifest> {
  const tally = new SealerTally(commandCipher(config));
  const store = postgresStore(config);
  try {
    return await writeExportBackup(out, TABLE, recordPages(transferOf(store), tally), () =>
      tally.manifest(config, 'postgres'),
    );
  } finally {
    await store.close();
  }
}

/** The records of a PostgreSQL backup, owners first (the order restore inserts them in). */
export function backupRecords(file: string): TransferRecord[] {
  const rows = readExportRows<{ kind: string; record: string }>(file, RECORDS, 'seq');
  const records = rows.map((r) => ({ kind: r.kind, record: parseBackupJson(r.record) }) as TransferRecord);
  const rank = (r: TransferRecord) => TRANSFER_KINDS.indexOf(r.kind);
  return records.sort((a, b) => rank(a) - rank(b));
}

/** Whether the database holds any record (its schema is created on the way when missing). */
export async function databaseHasRecords(config: Config): Promise<boolean> {
  const store = postgresStore(config);
  try {
    return (await transferOf(store).scan(undefined, 1)).records.length > 0;
  } finally {
    await store.close();
  }
}

/** What a restore into PostgreSQL wrote and found already there (never overwritten). */
export interface PostgresRestoreResult {
  records: number;
  existing: number;
  /** Existing records that differ from the backup's (left as they are). */
  differing: number;
}

/** Inserts every record that is absent (Backend.transfer.insert never overwrites). */
export async function restorePostgres(config: Config, records: TransferRecord[]): Promise<PostgresRestoreResult> {
  const store = postgresStore(config);
  const result: PostgresRestoreResult = { records: 0, existing: 0, differing: 0 };
  try {
    const transfer = transferOf(store);
    for (let i = 0; i < records.length; i += 50) {
      await Promise.all(
        records.slice(i, i + 50).map(async (r) => {
          const existing = await transfer.insert(r);
          if (existing === undefined) result.records++;
          else {
            result.existing++;
            if (backupJson(existing.record) !== backupJson(r.record)) result.differing++;
          }
        }),
      );
    }
  } catch (err) {
    throw new CommandFailedError(`restore stopped after ${result.records} records: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
  return result;
}
