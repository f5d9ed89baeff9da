/**
 * `keyplane restore FILE`: a backup into an empty (or missing) data dir, DynamoDB table or PostgreSQL
 * database. Checks, before writing anything, that the configured master key / KMS key opens the backup's
 * keys; refuses to overwrite existing data without `--force`; SQLite files are built aside and renamed
 * into place; PostgreSQL records are inserted only where absent.
 */
import { Command } from 'commander';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { describeDatabase } from '../config/store';
import { LocalEnvelopeCipher } from '../keys/local-cipher';
import {
  fixedMasterKeys,
  readMasterKeyFile,
  readMasterKeys,
  type MasterKey,
  type MasterKeys,
} from '../keys/master-key-ring';
import { writeSecretFileDurably } from '../keys/master-key-rotation';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { LEGACY_SEALER } from '../keys/rewrap';
import { toStoredKey } from '../store/dynamodb/keys';
import type { StoredKey } from '../store/records';
import {
  readBackupFiles,
  readBackupManifest,
  restoreSqliteStore,
  storeExists,
  storeInUse,
} from '../store/sqlite/backup-file';
import type { BackupManifest } from './backup';
import { backupItems, restoreDynamoDb, tableHasItems } from './backup-dynamodb';
import { backupRecords, databaseHasRecords, restorePostgres } from './backup-postgres';
import { openDataDirFiles, writeDataDirFiles } from './backup-secrets';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from './cli-errors';
import { print, printJson } from './output';
import { commandCipher, commandConfig, sqliteFileOf, requireSupportedStore } from './store-access';

interface RestoreOptions {
  force?: boolean;
  masterKey?: string;
  json?: boolean;
}

type Sample = Pick<StoredKey, 'kid' | 'resourceId' | 'sealed'>;

function sqliteKeys(file: string): Sample[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT kid, resource_id, sealed FROM keys').all() as Array<{
      kid: string;
      resource_id: string;
      sealed: Buffer;
    }>;
    return rows.map((r) => ({ kid: r.kid, resourceId: r.resource_id, sealed: r.sealed }));
  } finally {
    db.close();
  }
}

/** The local cipher of the target data dir, with `--master-key` added (checked, not yet copied). */
function targetLocalKeys(config: Config, manifest: BackupManifest, extra: MasterKey | undefined): MasterKeys {
  const present = fs.existsSync(path.join(config.dataDir, 'master.key'));
  if (!present && !extra) {
    throw new CommandFailedError(
      `no master key in ${config.dataDir}: the backup needs master key ${manifest.sealingKey}; ` +
        'copy the master.key file kept with your backups there, or pass --master-key FILE',
    );
  }
  if (!present && extra) return { current: extra, previous: [] };
  const keys = readMasterKeys(config.dataDir);
  if (extra && extra.fingerprint !== keys.current.fingerprint) {
    throw new CommandFailedError(
      `${config.dataDir} already has master key ${keys.current.fingerprint}; --master-key holds ${extra.fingerprint}`,
    );
  }
  return keys;
}

/** Opens one key per sealing key of the backup; refuses (naming the key needed) when one does not open. */
async function checkKeysOpen(
  cipher: EnvelopeCipher,
  keys: Sample[],
  manifest: BackupManifest,
  have: string,
): Promise<void> {
  const samples = new Map<string, Sample>();
  for (const k of keys) {
    const by = cipher.sealedBy?.(k.sealed) ?? LEGACY_SEALER;
    if (!samples.has(by)) samples.set(by, k);
  }
  for (const [by, k] of samples) {
    try {
      await cipher.open(k.sealed, { resourceId: k.resourceId, kid: k.kid });
    } catch {
      throw new CommandFailedError(
        `the configured ${manifest.cipher === 'kms' ? 'KMS key' : 'master key'} (${have}) cannot open keys of this ` +
          `backup sealed by ${by === LEGACY_SEALER ? `${LEGACY_SEALER}; at backup time ${manifest.sealingKey} sealed` : by}: nothing was written`,
      );
    }
  }
}

function checkCompatible(config: Config, manifest: BackupManifest): void {
  if (manifest.store !== config.store) {
    throw new UsageError(
      `this is a backup of a ${manifest.store} store, but KEYPLANE_STORE is ${config.store} (use keyplane migrate)`,
    );
  }
  const cipher = config.kmsKeyId === undefined ? 'local' : 'kms';
  if (manifest.cipher !== cipher) {
    throw new CommandFailedError(
      `the backup's keys are sealed by ${manifest.cipher === 'kms' ? 'AWS KMS' : 'a local master key'}, ` +
        `but the configuration uses ${cipher === 'kms' ? 'KEYPLANE_KMS_KEY_ID' : 'a local master key'}`,
    );
  }
}

async function run(file: string, opts: RestoreOptions): Promise<void> {
  const config = commandConfig();
  requireSupportedStore(config, 'restore');
  const source = path.resolve(file);
  if (!fs.existsSync(source)) throw new UsageError(`${source} does not exist`);
  const manifest = readBackupManifest(source) as BackupManifest | undefined;
  if (manifest?.format !== 'keyplane-backup') throw new CommandFailedError(`${source} is not a Keyplane backup`);
  checkCompatible(config, manifest);
  const target = sqliteFileOf(config.dataDir);
  const exists =
    config.store === 'dynamodb'
      ? await tableHasItems(config)
      : config.store === 'postgres'
        ? await databaseHasRecords(config)
        : storeExists(target);
  const where =
    config.store === 'dynamodb'
      ? `table ${config.table}`
      : config.store === 'postgres'
        ? describeDatabase(config.database)
        : config.dataDir;
  if (exists && !opts.force)
    throw new CommandFailedError(`${where} already holds data: refusing to overwrite it without --force`);
  if (exists && config.store !== 'dynamodb' && config.store !== 'postgres' && storeInUse(target)) {
    throw new CommandFailedError(
      `${target} is open in another process (a running server?): stop every server on ${where} first, ` +
        'or its keys written meanwhile are lost',
    );
  }
  const extra = opts.masterKey ? readMasterKeyFile(path.resolve(opts.masterKey)) : undefined;
  let cipher: EnvelopeCipher;
  let have: string;
  if (manifest.cipher === 'local') {
    const keys = targetLocalKeys(config, manifest, extra);
    cipher = new LocalEnvelopeCipher(fixedMasterKeys(keys));
    have = [keys.current, ...keys.previous].map((k) => k.fingerprint).join(', ');
  } else {
    cipher = commandCipher(config);
    have = config.kmsKeyId ?? '';
  }
  const items = config.store === 'dynamodb' ? backupItems(source) : undefined;
  const records = config.store === 'postgres' ? backupRecords(source) : undefined;
  const keys = items
    ? items.filter((i) => i.pk?.S?.startsWith('KEY#') && i.sk?.S === 'KEY').map(toStoredKey)
    : records
      ? records.flatMap((r) => (r.kind === 'key' ? [r.record] : []))
      : sqliteKeys(source);
  await checkKeysOpen(cipher, keys, manifest, have);
  const carried = items || records ? [] : await openDataDirFiles(readBackupFiles(source), cipher);
  if (extra && !fs.existsSync(path.join(config.dataDir, 'master.key'))) {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeSecretFileDurably(path.join(config.dataDir, 'master.key'), `${extra.key.toString('base64')}\n`);
  }
  const result = items
    ? { items: await restoreDynamoDb(config, items, opts.force === true) }
    : records
      ? await restorePostgres(config, records)
      : { auditRecords: restoreSqliteStore(source, target).auditRecords };
  const files = writeDataDirFiles(config.dataDir, carried, opts.force === true);
  if (opts.json) return printJson({ restored: where, keys: keys.length, ...result, files, manifest });
  const extraInfo =
    'items' in result
      ? `${result.items} items`
      : 'records' in result
        ? `${result.records} records (${result.existing} already there, ${result.differing} of them different: kept)`
        : `${result.auditRecords} audit records`;
  print(
    [
      `restored ${keys.length} keys and ${extraInfo} into ${where}`,
      `backup made ${manifest.createdAt} by keyplane ${manifest.keyplaneVersion}; keys open with ${have}`,
    ].join('\n'),
  );
}

/** Defines `keyplane restore`. */
export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a backup into an empty data dir, DynamoDB table or PostgreSQL database; checks keys first')
    .argument('<file>', 'a file written by keyplane backup')
    .option('--force', 'overwrite the existing store (stop every server on it first; PostgreSQL: adds what is missing)')
    .option('--master-key <file>', 'the master.key the backup needs, copied into an empty data dir')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Restores into the store the KEYPLANE_* variables name. Nothing is written unless the configured master
key (KEYPLANE_DATA_DIR/master.key, or --master-key) or KMS key opens the backup's keys.
${EXIT_CODES_HELP}`,
    )
    .action(async (file: string, opts: RestoreOptions) => run(file, opts));
}
