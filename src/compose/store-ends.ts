/**
 * The stores and ciphers `keyplane migrate`, `export` and `import` open outside a server: a store named
 * on the command line (`sqlite:DIR`, `dynamodb[:TABLE]`, `postgres[:URL]`) or by the usual KEYPLANE_*
 * settings, and the cipher its keys are sealed with. Adding a backend is one entry in OPENERS.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { retentionDaysOf } from '../audit/audit-retention';
import { ConfigError, type Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { KmsEnvelopeCipher } from '../keys/kms-cipher';
import { LocalEnvelopeCipher, localCipherFor } from '../keys/local-cipher';
import type { MigrationEnd } from '../keys/store-migration';
import type { Backend } from '../store/backend';
import { dynamoDbBackend } from '../store/dynamodb';
import { readSecretFile } from '../util/secret-file';
import { awsClientBase, kmsEncryptionContext } from './backends';
import { dataDirSealer } from './data-dir-sealer';

/** A store named on the command line: its backend and where (directory, table, URL). */
export interface StoreSpec {
  backend: string;
  location?: string;
}

/** How a side's keys are sealed: a KMS key, a master key file, or (neither) that store's default. */
export interface CipherChoice {
  kmsKeyId?: string;
  masterKeyFile?: string;
}

/** A store spec or cipher choice the command line got wrong; the message names the option. */
export class StoreSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreSpecError';
  }
}

type Opener = (config: Config, location: string | undefined) => Backend;

/**
 * AWS client settings of a batch run: patient (30 s per request, 6 attempts) where the server's clients
 * give up within seconds so a request can answer 503; a slow moment must not stop a migration.
 */
const BATCH_AWS_CLIENT = {
  maxAttempts: 6,
  requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
} as const;

function openSqlite(config: Config, location: string | undefined): Backend {
  const { openSqliteBackend } = require('../store/sqlite') as typeof import('../store/sqlite');
  return openSqliteBackend(path.join(location ?? config.dataDir, 'keyplane.db'));
}

function openDynamo(config: Config, location: string | undefined): Backend {
  const table = location ?? config.table;
  if (table === undefined) throw new StoreSpecError('dynamodb needs a table: dynamodb:TABLE or KEYPLANE_TABLE');
  const client = new DynamoDBClient({ ...awsClientBase(config), ...BATCH_AWS_CLIENT });
  return dynamoDbBackend(client, table, { auditRetentionDays: retentionDaysOf(config.auditRetention) });
}

function openPostgres(config: Config, location: string | undefined): Backend {
  const url = location ?? config.database?.url;
  if (url === undefined) {
    throw new StoreSpecError('postgres needs a connection string: postgres:postgres://… or KEYPLANE_DATABASE_URL');
  }
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new StoreSpecError('postgres:URL must be a postgres:// connection string');
  const { openPostgresBackend } = require('../store/postgres') as typeof import('../store/postgres');
  const { poolSize, statementTimeoutMs } = config.database ?? {};
  return openPostgresBackend({ url, poolSize, statementTimeoutMs });
}

/** Every backend a store spec may name. */
const OPENERS: Record<string, Opener> = {
  sqlite: openSqlite,
  dynamodb: openDynamo,
  postgres: openPostgres,
};

/** Backends named in help texts that this build cannot open yet. */
const NOT_YET: Record<string, string> = {};

/** Parses `sqlite:DIR`, `dynamodb[:TABLE]`, `postgres[:URL]`; `option` names the flag in errors. */
export function parseStoreSpec(text: string, option: string): StoreSpec {
  const at = text.indexOf(':');
  const backend = at < 0 ? text : text.slice(0, at);
  const location = at < 0 ? undefined : text.slice(at + 1);
  if (!(backend in OPENERS) && !(backend in NOT_YET)) {
    throw new StoreSpecError(`${option} must be sqlite:DIR, dynamodb[:TABLE] or postgres[:URL], not "${text}"`);
  }
  const missing = NOT_YET[backend];
  if (missing !== undefined) throw new StoreSpecError(`${option}: ${missing}`);
  if (location === '') throw new StoreSpecError(`${option}: nothing after "${backend}:"`);
  if (backend === 'sqlite' && location === undefined)
    throw new StoreSpecError(`${option}: sqlite needs a directory (sqlite:DIR)`);
  return { backend, location };
}

/** The store the usual KEYPLANE_* settings name (KEYPLANE_STORE, KEYPLANE_DATA_DIR, KEYPLANE_TABLE, KEYPLANE_DATABASE_URL). */
export function configuredStoreSpec(config: Config): StoreSpec {
  if (config.store === 'postgres') return { backend: 'postgres', location: config.database?.url };
  return config.store === 'dynamodb'
    ? { backend: 'dynamodb', location: config.table }
    : { backend: 'sqlite', location: config.dataDir };
}

/** Connection parameters that carry a secret, in a URL's query or a libpq `key=value` string (pg reads both). */
const SECRET_PARAMS = /^(?:password|sslpassword|sslkey)$/i;

/** A connection string without its password (specs are printed and written to checkpoints). */
function withoutPassword(location: string): string {
  try {
    const url = new URL(location);
    if (url.password !== '') url.password = '***';
    for (const name of [...url.searchParams.keys()]) {
      if (SECRET_PARAMS.test(name)) url.searchParams.set(name, '***');
    }
    return url.toString().replace(/=\*\*\*(?=&|$)/g, '=***');
  } catch {
    return location
      .replace(/:[^:@/]*@/, ':***@')
      .replace(/\b(password|sslpassword|sslkey)(\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1$2***');
  }
}

/** A spec as text, for checkpoints and messages (a PostgreSQL password shown as `***`). */
export function specText(spec: StoreSpec): string {
  if (spec.location === undefined) return spec.backend;
  return `${spec.backend}:${spec.backend === 'postgres' ? withoutPassword(spec.location) : spec.location}`;
}

function readMasterKeyFile(file: string, option: string): Buffer {
  let key: Buffer;
  try {
    key = Buffer.from(readSecretFile(file).trim(), 'base64');
  } catch (err) {
    throw new StoreSpecError(`${option}: ${(err as Error).message}`);
  }
  if (key.length !== 32) throw new StoreSpecError(`${option}: ${file} does not hold a base64 32-byte key`);
  return key;
}

/**
 * The cipher of one side: `kmsKeyId`, else `masterKeyFile`, else the store's own: KEYPLANE_KMS_KEY_ID
 * when set, else the `master.key` of the SQLite directory (or of KEYPLANE_DATA_DIR for other stores).
 * `create` allows making a new master key (a target); a source's must exist.
 */
export function openCipher(
  config: Config,
  spec: StoreSpec,
  choice: CipherChoice,
  side: 'from' | 'to',
  create: boolean,
): EnvelopeCipher {
  const kmsKeyId = choice.kmsKeyId ?? (choice.masterKeyFile === undefined ? config.kmsKeyId : undefined);
  if (kmsKeyId !== undefined) {
    const kms = new KMSClient({ ...awsClientBase(config), ...BATCH_AWS_CLIENT });
    return new KmsEnvelopeCipher(kms, { keyId: kmsKeyId, encryptionContext: kmsEncryptionContext(config) });
  }
  if (choice.masterKeyFile !== undefined) {
    return new LocalEnvelopeCipher(readMasterKeyFile(choice.masterKeyFile, `--${side}-master-key-file`));
  }
  const dir = spec.backend === 'sqlite' && spec.location !== undefined ? spec.location : config.dataDir;
  if (!create && !fs.existsSync(path.join(dir, 'master.key'))) {
    throw new StoreSpecError(
      `${dir}/master.key does not exist: name the source cipher with --${side}-master-key-file or --${side}-kms-key-id`,
    );
  }
  try {
    // The ring: a data dir mid-rotation still has keys sealed by an old master key (master.<fp>.key).
    return localCipherFor(dir, spec.backend === 'sqlite' ? dataDirSealer(dir) : undefined);
  } catch (err) {
    if (err instanceof ConfigError) throw new StoreSpecError(err.message);
    throw err;
  }
}

/** Opens a store spec's backend (refusing one this build lacks). */
export function openStore(config: Config, spec: StoreSpec): Backend {
  const opener = OPENERS[spec.backend];
  if (!opener) throw new StoreSpecError(NOT_YET[spec.backend] ?? `unknown backend ${spec.backend}`);
  return opener(config, spec.location);
}

/** Opens one end of a migration, export or import: its store and its cipher. */
export function openEnd(
  config: Config,
  spec: StoreSpec,
  choice: CipherChoice,
  side: 'from' | 'to',
  create: boolean,
): MigrationEnd {
  if (
    !create &&
    spec.backend === 'sqlite' &&
    spec.location !== undefined &&
    !fs.existsSync(path.join(spec.location, 'keyplane.db'))
  ) {
    throw new StoreSpecError(`${spec.location} holds no Keyplane store (no keyplane.db)`);
  }
  const cipher = openCipher(config, spec, choice, side, create);
  return { store: openStore(config, spec), cipher };
}
