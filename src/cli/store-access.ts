/**
 * What the offline operations commands (backup, restore, rotate-master-key) share: the configuration
 * from the usual KEYPLANE_* variables, and the store and cipher it names, opened without a server and
 * without ever creating a master key or an empty store by accident.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuditRecord } from '../audit/audit-record';
import { awsClientBase, kmsEncryptionContext, selectStore } from '../compose/backends';
import { ConfigError, loadConfig, processEnv, type Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { KmsEnvelopeCipher, kmsClientTimeouts } from '../keys/kms-cipher';
import { LocalEnvelopeCipher } from '../keys/local-cipher';
import { MasterKeyRing } from '../keys/master-key-ring';
import type { SealedKeyStore } from '../keys/rewrap';
import { dynamoDbClientTimeouts } from '../store/dynamodb';
import { DynamoSealedKeyStore } from '../store/dynamodb/sealed-keys';
import { CommandFailedError, UsageError } from './cli-errors';

/** The configuration of the KEYPLANE_* variables; a ConfigError becomes a usage error naming the variable. */
export function commandConfig(): Config {
  try {
    return loadConfig(processEnv());
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`configuration error: ${err.message}`);
    throw err;
  }
}

/**
 * Refuses a store these commands do not handle (all three stores are handled now; a future store is
 * refused until they are), naming the runbook, instead of looking for a SQLite file that is not the store.
 */
export function requireSupportedStore(config: Config, command: string): void {
  const store: string = config.store;
  if (store !== 'sqlite' && store !== 'dynamodb' && store !== 'postgres') {
    throw new UsageError(`keyplane ${command} does not support KEYPLANE_STORE=${store} yet (see docs/operations.md)`);
  }
}

/** The SQLite store file of a data dir. */
export function sqliteFileOf(dataDir: string): string {
  return path.join(dataDir, 'keyplane.db');
}

/** The cipher config names; the local one reads the data dir's master keys and never creates one. */
export function commandCipher(config: Config): EnvelopeCipher {
  if (config.kmsKeyId !== undefined) {
    const kms = new KMSClient({ ...awsClientBase(config), ...kmsClientTimeouts() });
    return new KmsEnvelopeCipher(kms, { keyId: config.kmsKeyId, encryptionContext: kmsEncryptionContext(config) });
  }
  try {
    return new LocalEnvelopeCipher(new MasterKeyRing(config.dataDir));
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandFailedError(`no usable master key: ${err.message}`);
    throw err;
  }
}

/** The stored keys of the configured store, for re-wrap and counting; refuses a SQLite store that does not exist. */
export async function commandSealedKeys(config: Config): Promise<SealedKeyStore> {
  if (config.store === 'dynamodb' && config.table !== undefined) {
    const client = new DynamoDBClient({ ...awsClientBase(config), ...dynamoDbClientTimeouts() });
    return new DynamoSealedKeyStore({ client, name: config.table });
  }
  if (config.store === 'postgres' && config.database !== undefined) {
    const { PostgresSealedKeyStore } =
      require('../store/postgres/sealed-keys') as typeof import('../store/postgres/sealed-keys');
    return new PostgresSealedKeyStore(config.database.url);
  }
  const file = sqliteFileOf(config.dataDir);
  if (!fs.existsSync(file)) throw new CommandFailedError(`no Keyplane store in ${config.dataDir} (${file} is missing)`);
  const { SqliteSealedKeyStore } =
    require('../store/sqlite/sealed-keys') as typeof import('../store/sqlite/sealed-keys');
  return new SqliteSealedKeyStore(file);
}

/** Appends one audit record for an operations step (who: `cli:<user>@<host>`), through the store's audit. */
export async function auditOperation(
  config: Config,
  event: Pick<AuditRecord, 'action' | 'route' | 'resourceId' | 'reason'>,
): Promise<void> {
  const store = selectStore(config);
  try {
    const principal = `cli:${os.userInfo().username}@${os.hostname()}`;
    await store.audit.append([
      // A deployment-wide operation: under `*`, which only admins of `*` see.
      { ...event, id: crypto.randomUUID(), time: new Date(), principal, outcome: 'allowed', status: 200, tenant: '*' },
    ]);
  } finally {
    await store.close();
  }
}
