/**
 * `keyplane migrate`: copies every record of one store into another (keys re-sealed for the target's
 * cipher), resumable from a checkpoint file and verifiable record by record. See docs/operations.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { openEnd, parseStoreSpec, specText, type CipherChoice, type StoreSpec } from '../compose/store-ends';
import type { Config } from '../config';
import { migrateStore, verifyStore, type MigrationConflict, type MigrationEnd } from '../keys/store-migration';
import { TRANSFER_KINDS } from '../store/transfer';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from './cli-errors';
import { localConfig, withUsageErrors, writeFileAtomically } from './local-store';
import { note, print, printJson, renderTable } from './output';

interface MigrateOptions {
  from: string;
  to: string;
  verify?: boolean;
  checkpoint: string;
  fromKmsKeyId?: string;
  fromMasterKeyFile?: string;
  toKmsKeyId?: string;
  toMasterKeyFile?: string;
  json?: boolean;
  pageSize: string;
}

interface Checkpoint {
  from: string;
  to: string;
  cursor: string;
}

/** The cursor to resume from, or undefined (start); refuses a checkpoint of another migration. */
function readCheckpoint(file: string, from: string, to: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  let cp: Checkpoint;
  try {
    cp = JSON.parse(fs.readFileSync(file, 'utf8')) as Checkpoint;
  } catch (err) {
    throw new UsageError(`--checkpoint ${file} is not a migrate checkpoint: ${(err as Error).message}`);
  }
  if (cp.from !== from || cp.to !== to) {
    throw new UsageError(
      `--checkpoint ${file} belongs to a migration from ${cp.from} to ${cp.to}; remove it or name another file`,
    );
  }
  return cp.cursor;
}

const printable = (c: MigrationConflict): string[] => [c.kind, c.identity.split('\u0000').join('/'), c.reason];

function side(o: MigrateOptions, which: 'from' | 'to'): CipherChoice {
  const kmsKeyId = which === 'from' ? o.fromKmsKeyId : o.toKmsKeyId;
  const masterKeyFile = which === 'from' ? o.fromMasterKeyFile : o.toMasterKeyFile;
  if (kmsKeyId !== undefined && masterKeyFile !== undefined) {
    throw new UsageError(`--${which}-kms-key-id and --${which}-master-key-file exclude each other`);
  }
  return { kmsKeyId, masterKeyFile };
}

function pageSizeOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError('--page-size must be an integer from 1 to 1000');
  return n;
}

/**
 * `postgres:env:VAR`: the connection string from the environment variable VAR, so a password never has to
 * be on the command line (where `ps` shows it) even when both sides are PostgreSQL databases.
 */
function resolvedSpec(spec: StoreSpec, option: string): StoreSpec {
  const name =
    spec.backend === 'postgres' ? /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec.location ?? '')?.[1] : undefined;
  if (name === undefined) return spec;
  const url = process.env[name];
  if (url === undefined || url === '') throw new UsageError(`${option} postgres:env:${name}: ${name} is not set`);
  return { backend: 'postgres', location: url };
}

/**
 * The master key file a migration to a shared store (PostgreSQL, DynamoDB) without KMS or
 * `--to-master-key-file` is about to create in KEYPLANE_DATA_DIR, if any: its servers need that key, so
 * the command says so (a laptop's ./data key would seal keys no server opens).
 */
function targetKeyToMake(config: Config, spec: StoreSpec, choice: CipherChoice): string | undefined {
  if (spec.backend === 'sqlite' || choice.kmsKeyId !== undefined || choice.masterKeyFile !== undefined) {
    return undefined;
  }
  if (config.kmsKeyId !== undefined) return undefined;
  const file = path.join(config.dataDir, 'master.key');
  return fs.existsSync(file) ? undefined : file;
}

async function run(o: MigrateOptions): Promise<void> {
  const config = localConfig();
  const fromSpec = parseStoreSpec(o.from, '--from');
  const toSpec = parseStoreSpec(o.to, '--to');
  const [fromText, toText] = [specText(fromSpec), specText(toSpec)];
  if (fromText === toText) throw new UsageError('--from and --to name the same store');
  const resumeAt = readCheckpoint(o.checkpoint, fromText, toText);
  const from: MigrationEnd = openEnd(config, resolvedSpec(fromSpec, '--from'), side(o, 'from'), 'from', false);
  const madeKey = targetKeyToMake(config, toSpec, side(o, 'to'));
  const to: MigrationEnd = openEnd(config, resolvedSpec(toSpec, '--to'), side(o, 'to'), 'to', true);
  if (madeKey) {
    const fingerprint = await to.cipher.sealingKeyId?.();
    note(
      `keyplane: made a new master key ${fingerprint} at ${madeKey} for ${toText}: every server on that store ` +
        'must have this master.key in its data dir, or none of the keys migrated there opens\n',
    );
  }
  try {
    if (resumeAt !== undefined) note(`resuming from checkpoint ${o.checkpoint}`);
    const report = await migrateStore(from, to, {
      cursor: resumeAt,
      pageSize: pageSizeOf(o.pageSize),
      onPage: (next) => {
        if (next === undefined) fs.rmSync(o.checkpoint, { force: true });
        else writeFileAtomically(o.checkpoint, JSON.stringify({ from: fromText, to: toText, cursor: next }));
      },
    });
    const verify = o.verify ? await verifyStore(from, to) : undefined;
    if (o.json) printJson({ from: fromText, to: toText, ...report, verify });
    else {
      const rows = TRANSFER_KINDS.map((k) => [
        k,
        String(report.copied[k]),
        String(report.skipped[k]),
        ...(verify ? [String(verify.checked[k])] : []),
      ]);
      print(renderTable(['KIND', 'COPIED', 'SKIPPED', ...(verify ? ['VERIFIED'] : [])], rows));
      if (report.conflicts.length > 0)
        print(
          `conflicts (left as they are in the target):\n${renderTable(['KIND', 'ID', 'WHY'], report.conflicts.map(printable))}`,
        );
      if (verify && verify.mismatches.length > 0)
        print(`verify found differences:\n${renderTable(['KIND', 'ID', 'WHY'], verify.mismatches.map(printable))}`);
      if (verify && verify.mismatches.length === 0)
        print('verify: every record of the source is in the target, keys identical');
    }
    const problems = report.conflicts.length + (verify?.mismatches.length ?? 0);
    if (problems > 0)
      throw new CommandFailedError(
        `${report.conflicts.length} conflict(s), ${verify?.mismatches.length ?? 0} verify difference(s)`,
      );
  } finally {
    await Promise.all([from.store.close(), to.store.close()]);
  }
}

/** Defines `keyplane migrate`. */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description(
      'copy every record (keys re-sealed, leases, static keys, API keys, policies, tenants, revocations, audit) into another store',
    )
    .requiredOption('--from <store>', 'source: sqlite:DIR, dynamodb[:TABLE] or postgres[:URL|:env:VAR]')
    .requiredOption('--to <store>', 'target: sqlite:DIR, dynamodb[:TABLE] or postgres[:URL|:env:VAR]')
    .option('--verify', 'afterwards, compare every record of the source with the target (keys by plaintext)')
    .option('--checkpoint <file>', 'where progress is kept so a re-run resumes', 'keyplane-migrate.checkpoint.json')
    .option('--from-kms-key-id <id>', 'source keys are sealed with this KMS key (default: KEYPLANE_KMS_KEY_ID)')
    .option('--from-master-key-file <file>', 'source keys are sealed with this local master key file')
    .option('--to-kms-key-id <id>', 'seal keys in the target with this KMS key (default: KEYPLANE_KMS_KEY_ID)')
    .option('--to-master-key-file <file>', 'seal keys in the target with this local master key file')
    .option('--page-size <n>', 'records read and written at once (1-1000)', '200')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Without a cipher option, a side's keys are sealed by KEYPLANE_KMS_KEY_ID when set, else by the
master.key of its SQLite directory (KEYPLANE_DATA_DIR for other stores; created for a new target).
Nothing in the target is overwritten: records already there and identical are skipped, different ones
are reported as conflicts (exit 1). Re-running after an interruption resumes from --checkpoint.
${EXIT_CODES_HELP}`,
    )
    .action(async (o: MigrateOptions) => withUsageErrors(() => run(o)));
}
