import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { retentionDaysOf } from '../audit/audit-retention';
import { ConfigError, type Config } from '../config';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { KmsEnvelopeCipher, kmsClientTimeouts } from '../keys/kms-cipher';
import { localCipherFor } from '../keys/local-cipher';
import { createLogger, type Logger } from '../logger';
import { dataDirSealer } from './data-dir-sealer';
import { sqliteStore, type Backends } from './services';
import type { Backend } from '../store/backend';
import { dynamoDbBackend, dynamoDbClientTimeouts } from '../store/dynamodb';

/** The encryption context every KMS data key is bound to: a deployment cannot open another's keys (also `keyplane migrate`'s). */
export function kmsEncryptionContext(config: Config): Record<string, string> {
  return { app: 'keyplane', deployment: config.deployment };
}

/** Region and, when `KEYPLANE_AWS_ENDPOINT` is set (moto, LocalStack), the endpoint shared by both clients (and migrate's). */
export function awsClientBase(config: Config): { region: string; endpoint?: string } {
  return config.awsEndpoint ? { region: config.awsRegion, endpoint: config.awsEndpoint } : { region: config.awsRegion };
}

function selectCipher(config: Config): EnvelopeCipher {
  if (config.kmsKeyId === undefined) return localCipherFor(config.dataDir, dataDirSealer(config.dataDir));
  const kms = new KMSClient({ ...awsClientBase(config), ...kmsClientTimeouts() });
  return new KmsEnvelopeCipher(kms, { keyId: config.kmsKeyId, encryptionContext: kmsEncryptionContext(config) });
}

/**
 * PostgreSQL at `KEYPLANE_DATABASE_URL`, pool and statement timeout from `KEYPLANE_DATABASE_*`; a dead
 * idle connection is logged at warn (the pool replaces it), expired audit records pruned in the
 * background. Required lazily, so the Lambda bundle never carries the driver.
 */
export function postgresStore(config: Config, logger: Logger = createLogger(config.logLevel)): Backend {
  const { openPostgresBackend } = require('../store/postgres') as typeof import('../store/postgres');
  const database = config.database;
  if (database === undefined)
    throw new ConfigError('KEYPLANE_DATABASE_URL', 'is required when KEYPLANE_STORE=postgres');
  const log = logger.child({ component: 'postgres' });
  return openPostgresBackend({
    url: database.url,
    poolSize: database.poolSize,
    statementTimeoutMs: database.statementTimeoutMs,
    auditRetentionDays: retentionDaysOf(config.auditRetention),
    onIdleError: (err) => log.warn({ err }, 'idle database connection lost; the pool reconnects'),
    onAuditPrune: ({ deleted, error }) => {
      if (error !== undefined) log.warn({ err: error, deleted }, 'audit prune stopped; retrying at the next run');
    },
  });
}

/** The store config names (SQLite in the data dir, PostgreSQL or the DynamoDB table); commands open it too. */
export function selectStore(config: Config): Backend {
  if (config.store === 'postgres') return postgresStore(config);
  if (config.store !== 'dynamodb') return sqliteStore(config);
  if (config.table === undefined) throw new Error('KEYPLANE_TABLE is required when KEYPLANE_STORE=dynamodb');
  const dynamo = new DynamoDBClient({ ...awsClientBase(config), ...dynamoDbClientTimeouts() });
  return dynamoDbBackend(dynamo, config.table, { auditRetentionDays: retentionDaysOf(config.auditRetention) });
}

/**
 * The backends config asks for, so `npm start` and Lambda pick them the same way:
 * `KEYPLANE_KMS_KEY_ID` set → AWS KMS envelope cipher, else the local master key;
 * `KEYPLANE_STORE=dynamodb` → DynamoDB table `KEYPLANE_TABLE`, `postgres` → PostgreSQL at
 * `KEYPLANE_DATABASE_URL`, else SQLite in the data dir; each
 * keeps audit records for `KEYPLANE_AUDIT_RETENTION_DAYS`.
 * Each AWS client is created once here and lives as long as the backends (the store closes its own).
 */
export function awsBackends(config: Config): Backends {
  const cipher = selectCipher(config);
  return { store: selectStore(config), cipher };
}

/**
 * `KEYPLANE_TABLE` names a DynamoDB table that does not exist: reported at start with the commands
 * that create it, instead of a generic 503 on the first request. The Lambda answers 503 with it.
 */
export class MissingTableError extends ConfigError {
  constructor(
    readonly table: string,
    region: string,
    endpoint?: string,
  ) {
    const cli = `aws dynamodb${endpoint ? ` --endpoint-url ${endpoint}` : ''} --region ${region}`;
    super(
      'KEYPLANE_TABLE',
      `DynamoDB table "${table}" does not exist in ${region}. Create it with \`serverless deploy\` ` +
        `(serverless.yml declares it), or: ${cli} create-table --table-name ${table} ` +
        '--attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S ' +
        '--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE --billing-mode PAY_PER_REQUEST ' +
        `&& ${cli} update-time-to-live --table-name ${table} --time-to-live-specification Enabled=true,AttributeName=ttl`,
    );
    this.name = 'MissingTableError';
  }
}

/**
 * Checks at start that the DynamoDB table exists (one DescribeTable; nothing for SQLite), so a
 * missing table is named with its fix. Other errors (network, credentials) are left to /healthz and
 * the request that meets them: they may pass, a missing table does not.
 */
export async function checkStoreExists(config: Config): Promise<void> {
  if (config.store !== 'dynamodb' || config.table === undefined) return;
  const client = new DynamoDBClient({ ...awsClientBase(config), ...dynamoDbClientTimeouts() });
  try {
    await client.send(new DescribeTableCommand({ TableName: config.table }));
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      throw new MissingTableError(config.table, config.awsRegion, config.awsEndpoint);
    }
  } finally {
    client.destroy();
  }
}
