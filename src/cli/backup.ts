/**
 * `keyplane backup --out FILE`: a consistent online backup of the configured store, safe while a server
 * is serving. Keys stay sealed; the file's manifest says which master key / KMS key they need. Written
 * under a temporary name and renamed when complete, so a killed backup never leaves a file that looks good.
 */
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { countBySealer } from '../keys/rewrap';
import { VERSION } from '../version';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from './cli-errors';
import { sealDataDirFiles } from './backup-secrets';
import { print, printJson } from './output';
import { commandCipher, commandConfig, sqliteFileOf, requireSupportedStore } from './store-access';

/** What a backup file says about itself (the `keyplane_backup` table). */
export interface BackupManifest {
  format: 'keyplane-backup';
  version: 1;
  createdAt: string;
  keyplaneVersion: string;
  store: 'sqlite' | 'dynamodb' | 'postgres';
  /** `local` (master key file) or `kms`. */
  cipher: string;
  /** The key that sealed new keys at backup time: master key fingerprint or KMS key id. */
  sealingKey: string;
  /** Stored keys per sealing key (master key fingerprint, KMS key ARN, or the legacy format). */
  sealedBy: Record<string, number>;
  keys: number;
  /** Data-dir files carried sealed (`token-keys.json`); absent in DynamoDB exports. */
  files?: string[];
}

interface BackupOptions {
  out: string;
  json?: boolean;
}

async function sealingKeyOf(config: Config, cipher: EnvelopeCipher): Promise<string> {
  if (config.kmsKeyId !== undefined) return config.kmsKeyId;
  return (await cipher.sealingKeyId?.()) ?? cipher.name;
}

/** Builds the manifest of a snapshot from its keys. */
export async function manifestOf(
  config: Config,
  cipher: EnvelopeCipher,
  keysOf: () => Promise<import('../keys/rewrap').SealedKeyStore>,
): Promise<BackupManifest> {
  const keys = await keysOf();
  try {
    const sealedBy = Object.fromEntries(await countBySealer(keys, cipher));
    return {
      format: 'keyplane-backup',
      version: 1,
      createdAt: new Date().toISOString(),
      keyplaneVersion: VERSION,
      store: config.store,
      cipher: cipher.name,
      sealingKey: await sealingKeyOf(config, cipher),
      sealedBy,
      keys: Object.values(sealedBy).reduce((a, b) => a + b, 0),
    };
  } finally {
    await keys.close();
  }
}

async function backupSqlite(config: Config, out: string): Promise<BackupManifest> {
  const { snapshotSqliteStore, sealBackupFile, partialName } =
    require('../store/sqlite/backup-file') as typeof import('../store/sqlite/backup-file');
  const { SqliteSealedKeyStore } =
    require('../store/sqlite/sealed-keys') as typeof import('../store/sqlite/sealed-keys');
  const source = sqliteFileOf(config.dataDir);
  if (!fs.existsSync(source))
    throw new CommandFailedError(`no Keyplane store in ${config.dataDir} (${source} is missing)`);
  const cipher = commandCipher(config);
  const snapshot = partialName(out);
  try {
    await snapshotSqliteStore(source, snapshot);
    const files = await sealDataDirFiles(config.dataDir, cipher);
    const keys = await manifestOf(config, cipher, async () => new SqliteSealedKeyStore(snapshot));
    const manifest = { ...keys, files: files.map((f) => f.name) };
    sealBackupFile(snapshot, out, manifest, files);
    return manifest;
  } finally {
    fs.rmSync(snapshot, { force: true });
  }
}

async function run(opts: BackupOptions): Promise<void> {
  const config = commandConfig();
  requireSupportedStore(config, 'backup');
  const out = path.resolve(opts.out);
  if (fs.existsSync(out)) throw new UsageError(`${out} already exists: choose a new file name`);
  if (!fs.existsSync(path.dirname(out))) throw new UsageError(`directory ${path.dirname(out)} does not exist`);
  const manifest =
    config.store === 'dynamodb'
      ? await (require('./backup-dynamodb') as typeof import('./backup-dynamodb')).backupDynamoDb(config, out)
      : config.store === 'postgres'
        ? await (require('./backup-postgres') as typeof import('./backup-postgres')).backupPostgres(config, out)
        : await backupSqlite(config, out);
  if (opts.json) return printJson({ file: out, ...manifest });
  const sealers = Object.entries(manifest.sealedBy).map(([k, n]) => `${k} (${n} keys)`);
  print(
    [
      `backup written: ${out} (${fs.statSync(out).size} bytes, mode 0600)`,
      `store: ${manifest.store}, ${manifest.keys} keys, sealed (${manifest.cipher})`,
      `needs to restore: ${manifest.cipher === 'local' ? 'master key' : 'KMS key'} ${sealers.join(', ') || manifest.sealingKey}`,
    ].join('\n'),
  );
}

/** Defines `keyplane backup`. */
export function backupCommand(): Command {
  return new Command('backup')
    .description('write a consistent backup of the configured store (safe while a server runs); keys stay sealed')
    .requiredOption('--out <file>', 'the backup file to write (must not exist; written 0600)')
    .option('--json', 'print the manifest as JSON')
    .addHelpText(
      'after',
      `
SQLite (KEYPLANE_DATA_DIR): SQLite's online backup of keyplane.db plus the audit trail, in one SQLite
file with a manifest. DynamoDB (KEYPLANE_STORE=dynamodb): an export of every item of KEYPLANE_TABLE in
the same container; for disaster recovery prefer DynamoDB point-in-time recovery (docs/operations.md).
PostgreSQL (KEYPLANE_STORE=postgres): an export of every record of the database (Keyplane's transfer
scan) in the same container; for disaster recovery use pg_dump / point-in-time recovery as well.
The master key (master.key) is NOT in the backup: keep it separately; the manifest names its fingerprint.
${EXIT_CODES_HELP}`,
    )
    .action(async (opts: BackupOptions) => run(opts));
}
