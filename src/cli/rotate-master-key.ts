/**
 * `keyplane rotate-master-key`: a new local master key seals new keys at once, every stored key is
 * re-wrapped under it (resumable: re-running continues), and each old master key is deleted once no
 * stored key needs it. With KMS, the same re-wrap moves keys to the key KEYPLANE_KMS_KEY_ID names now.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { readMasterKeys } from '../keys/master-key-ring';
import {
  deletePreviousMasterKey,
  lockRotation,
  RotationLockedError,
  swapInNewMasterKey,
} from '../keys/master-key-rotation';
import { countBySealer, LEGACY_SEALER, rewrapKeys, type SealedKeyStore } from '../keys/rewrap';
import { CommandFailedError, EXIT_CODES_HELP, UsageError } from './cli-errors';
import { auditOperation, commandCipher, commandConfig, commandSealedKeys, requireSupportedStore } from './store-access';
import { note, print, printJson } from './output';

interface RotateOptions {
  status?: boolean;
  keepOld?: boolean;
  retire?: boolean;
  batch?: string;
  settleSeconds?: string;
  json?: boolean;
}

/** How long after the swap an old master key may be retired, unless --settle-seconds says otherwise. */
const DEFAULT_SETTLE_SECONDS = 60;

const ROUTE = 'keyplane rotate-master-key';

/**
 * Starts a local rotation (new `master.key`, old one kept) unless one is already under way; returns
 * whether it started one. On PostgreSQL (several instances, each with its own data dir) the new key
 * file must reach every instance before any stored key is re-wrapped under it, so the step is printed.
 */
async function startLocalRotation(config: Config, out: string[]): Promise<boolean> {
  const keys = readMasterKeys(config.dataDir);
  if (keys.previous.length > 0) {
    const kept = keys.previous.map((k) => k.fingerprint).join(', ');
    out.push(`resuming: master key ${keys.current.fingerprint} seals; still kept: ${kept}`);
    return false;
  }
  const swap = swapInNewMasterKey(config.dataDir);
  out.push(`new master key ${swap.current} seals new keys now; kept ${swap.previous} as master.${swap.previous}.key`);
  if (config.store === 'postgres') {
    out.push(
      `PostgreSQL: nothing re-wrapped yet. Copy ${config.dataDir}/master.${swap.current}.key into the data dir of ` +
        'every other instance (they open keys sealed by it from then on), then run this command again to re-wrap',
    );
  }
  await auditOperation(config, {
    action: 'rotate',
    route: ROUTE,
    resourceId: `master-key:${swap.current}`,
    reason: `new master key ${swap.current} replaces ${swap.previous}`,
  });
  return true;
}

/**
 * Whether old master keys may be deleted after this re-wrap. On PostgreSQL the other instances keep
 * sealing with the old key until their `master.key` is replaced, so only `--retire` (the operator's word
 * that every instance has the new `master.key`) allows it.
 */
function mayRetire(config: Config, opts: RotateOptions, out: string[]): boolean {
  if (opts.keepOld) return false;
  if (config.store !== 'postgres' || opts.retire) return true;
  const kept = readMasterKeys(config.dataDir).previous.map((k) => `master.${k.fingerprint}.key`);
  if (kept.length === 0) return true;
  out.push(
    `PostgreSQL: old master keys kept. Copy ${kept.join(', ')} and then master.key from ${config.dataDir} to ` +
      'every instance (replacing its master.key), then run this command with --retire to re-wrap what they ' +
      'sealed meanwhile and delete the old key here',
  );
  return false;
}

/**
 * Deletes every kept master key no stored key needs any more (none while format-2 values remain), once
 * `settleMs` have passed since the swap (`master.key` written): a running server may seal a key with the
 * old master key just before the swap and commit it after this run's count. Until then the key is kept
 * and the next run (which re-wraps what was committed meanwhile) retires it.
 */
async function retireUnneeded(
  config: Config,
  counts: Map<string, number>,
  settleMs: number,
  out: string[],
): Promise<void> {
  if ((counts.get(LEGACY_SEALER) ?? 0) > 0) return;
  const unneeded = readMasterKeys(config.dataDir).previous.filter((k) => (counts.get(k.fingerprint) ?? 0) === 0);
  const swappedAt = fs.statSync(path.join(config.dataDir, 'master.key')).mtimeMs;
  if (unneeded.length > 0 && Date.now() - swappedAt < settleMs) {
    const names = unneeded.map((k) => `master.${k.fingerprint}.key`).join(', ');
    out.push(
      `kept ${names}: a running server may still commit keys it sealed just before the swap; run this ` +
        `command again after ${new Date(swappedAt + settleMs).toISOString()} to re-wrap them and retire it`,
    );
    return;
  }
  for (const old of unneeded) {
    deletePreviousMasterKey(config.dataDir, old.fingerprint);
    out.push(
      `retired master key ${old.fingerprint}: no stored key needs it (keep your offline copy while backups made before this rotation exist)`,
    );
    await auditOperation(config, {
      action: 'rotate',
      route: ROUTE,
      resourceId: `master-key:${old.fingerprint}`,
      reason: `retired master key ${old.fingerprint}: no stored key needs it`,
    });
  }
}

function countLines(counts: Map<string, number>, current: string): string[] {
  if (counts.size === 0) return ['stored keys: none'];
  return [...counts].map(([by, n]) => `  ${by}${by === current ? ' (current)' : ''}: ${n} keys`);
}

async function rewrapAndReport(
  config: Config,
  store: SealedKeyStore,
  cipher: EnvelopeCipher,
  opts: RotateOptions,
  out: string[],
): Promise<Record<string, unknown>> {
  const settle = Number(opts.settleSeconds ?? DEFAULT_SETTLE_SECONDS);
  if (!(Number.isInteger(settle) && settle >= 0 && settle <= 86_400))
    throw new UsageError(`--settle-seconds must be a whole number from 0 to 86400, got "${opts.settleSeconds}"`);
  const batch = opts.batch === undefined ? undefined : Number.parseInt(opts.batch, 10);
  if (batch !== undefined && !(batch > 0 && batch <= 10000))
    throw new UsageError(`--batch must be a whole number from 1 to 10000, got "${opts.batch}"`);
  const result = await rewrapKeys(store, cipher, {
    batch,
    onPage: (r) => {
      if (!opts.json) note(`re-wrapping: ${r.scanned} keys scanned, ${r.rewrapped} re-wrapped`);
    },
  });
  out.push(`re-wrapped ${result.rewrapped} of ${result.scanned} keys under ${result.sealingKey}`);
  if (result.skipped > 0) out.push(`${result.skipped} keys changed meanwhile: run the command again`);
  if (result.rewrapped > 0) {
    await auditOperation(config, {
      action: 'rotate',
      route: ROUTE,
      resourceId: `master-key:${result.sealingKey}`,
      reason: `re-wrapped ${result.rewrapped} keys`,
    });
  }
  let counts = await countBySealer(store, cipher);
  if (cipher.name === 'local' && mayRetire(config, opts, out)) {
    if (config.store === 'postgres' && settle > 0) {
      // The other instances swapped their master.key at times this host cannot see (master.key's time here
      // says nothing of them): wait out the settle time now, then re-wrap what they committed meanwhile.
      if (!opts.json) note(`waiting ${settle} s: other instances may still commit keys sealed with the old key`);
      await new Promise((resolve) => setTimeout(resolve, settle * 1000));
      const late = await rewrapKeys(store, cipher, { batch });
      if (late.rewrapped > 0) out.push(`re-wrapped ${late.rewrapped} keys committed while waiting`);
      counts = await countBySealer(store, cipher);
      await retireUnneeded(config, counts, 0, out);
    } else await retireUnneeded(config, counts, settle * 1000, out);
  }
  if (cipher.name === 'kms') {
    const others = [...counts.keys()].filter((k) => k !== result.sealingKey);
    out.push(
      others.length === 0
        ? 'no stored key needs another KMS key: an old KMS key may be disabled once no backup needs it'
        : `still sealed by other KMS keys: ${others.join(', ')}`,
    );
  }
  out.push('stored keys by sealing key:', ...countLines(counts, result.sealingKey));
  return { ...result, sealedBy: Object.fromEntries(counts) };
}

async function run(opts: RotateOptions): Promise<void> {
  const config = commandConfig();
  requireSupportedStore(config, 'rotate-master-key');
  const out: string[] = [];
  const store = await commandSealedKeys(config);
  let unlock = () => undefined as void;
  try {
    if (!opts.status && config.kmsKeyId === undefined) unlock = takeLock(config.dataDir);
    const started = !opts.status && config.kmsKeyId === undefined && (await startLocalRotation(config, out));
    const cipher = commandCipher(config);
    if (started && config.store === 'postgres') {
      if (opts.json) return printJson({ started: true, messages: out });
    } else if (opts.status) {
      const current = (await cipher.sealingKeyId?.()) ?? cipher.name;
      const counts = await countBySealer(store, cipher);
      const kept =
        config.kmsKeyId === undefined ? readMasterKeys(config.dataDir).previous.map((k) => k.fingerprint) : [];
      if (opts.json) return printJson({ sealingKey: current, kept, sealedBy: Object.fromEntries(counts) });
      out.push(`sealing key: ${current}`);
      if (config.kmsKeyId === undefined) out.push(`kept old master keys: ${kept.join(', ') || 'none'}`);
      out.push('stored keys by sealing key:', ...countLines(counts, current));
    } else {
      const summary = await rewrapAndReport(config, store, cipher, opts, out);
      if (opts.json) return printJson({ ...summary, messages: out });
    }
    print(out.join('\n'));
  } finally {
    unlock();
    await store.close();
  }
}

function takeLock(dataDir: string): () => void {
  try {
    return lockRotation(dataDir);
  } catch (err) {
    if (err instanceof RotationLockedError) throw new CommandFailedError(err.message);
    throw err;
  }
}

/** Defines `keyplane rotate-master-key`. */
export function rotateMasterKeyCommand(): Command {
  return new Command('rotate-master-key')
    .description(
      'rotate the local master key (or move keys to a new KMS key): re-wrap every stored key, retire the old key',
    )
    .option('--status', 'only show which key seals and how many stored keys each key sealed')
    .option('--keep-old', 'keep old master key files even when no stored key needs them')
    .option('--retire', 'PostgreSQL: every instance has the new master.key; delete old keys no stored key needs')
    .option('--batch <n>', 'keys per page (each page one transaction or batch of conditional writes)', '500')
    .option(
      '--settle-seconds <n>',
      `retire an old master key only this long after the swap (default ${DEFAULT_SETTLE_SECONDS}): a running server may commit a key sealed just before it`,
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Works on the store the KEYPLANE_* variables name (KEYPLANE_DATA_DIR, or KEYPLANE_STORE=dynamodb with
KEYPLANE_TABLE, or KEYPLANE_STORE=postgres), with or without a running server. Local master key: writes a new master.key (the old
one is kept as master.<fingerprint>.key), re-wraps every stored key under it, then deletes the old file
once no stored key needs it, on a run --settle-seconds (default 60) or more after the swap. Interrupted? Run it again: it resumes instead of starting over.
PostgreSQL (several instances, one data dir each): the first run only writes the new key and says which
file to copy to every instance; the next run re-wraps; old keys are deleted only with --retire, once
every instance has the new master.key (docs/operations.md, "Rotating the master key on PostgreSQL").
KMS (KEYPLANE_KMS_KEY_ID): set the new key id first; the command re-wraps keys sealed by other KMS keys.
${EXIT_CODES_HELP}`,
    )
    .action(async (opts: RotateOptions) => run(opts));
}
