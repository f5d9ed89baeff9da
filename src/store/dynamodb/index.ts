import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../../errors';
import type { Backend } from '../backend';
import { mapBackendOutages } from '../outage';
import { withAuditRetention } from '../retention';
import { DynamoApiKeyRepository } from './api-keys';
import { DynamoAuditRepository } from './audit';
import { dynamoOutage } from './errors';
import type { DynamoTable } from './items';
import { DynamoKeyRepository } from './keys';
import { DynamoLeaseRepository } from './leases';
import { DynamoPolicyRepository } from './policies';
import { migrationGate } from './migrate-tenants';
import { DynamoResourceRepository, DynamoTenantRepository } from './resources';
import { DynamoStaticKeyRepository } from './static-keys';
import { DynamoRevocationRepository } from './revocations';
import { DynamoTransferRepository } from './transfer';

/** Table bootstrap and client settings (re-exported: IaC checks, tests and the bench use them). */
export { createTableInput, dynamoDbClientTimeouts, ensureTable } from './table';
/** The one-time tenant migration of a table from before tenants (run by the first owner read; CLI, tests). */
export { migrateTenants, tenantsMigrated } from './migrate-tenants';

/** Options of the DynamoDB backend. */
interface DynamoDbBackendOptions {
  /** How long after `expiresAt` DynamoDB TTL may delete a lease item. Default one day. */
  leaseTtlMarginSeconds?: number;
  /**
   * Days audit records are kept: each audit item gets `ttl` = its time plus this, and reads skip older
   * records (see audit.ts). Absent: kept forever.
   */
  auditRetentionDays?: number;
  /** The clock audit reads are judged by (tests inject one). */
  now?: () => Date;
}

async function ping(table: DynamoTable): Promise<void> {
  const res = await table.client.send(new DescribeTableCommand({ TableName: table.name }));
  const status = res.Table?.TableStatus;
  if (status !== 'ACTIVE' && status !== 'UPDATING') {
    throw new ServiceUnavailableError(`DynamoDB unavailable: table ${table.name} is ${status ?? 'unknown'}`);
  }
}

/**
 * The serverless backend: one DynamoDB table (layout in items.ts), strongly consistent reads, and
 * conditional TransactWriteItems so a lease and its new keys are written all or nothing. The backend
 * owns the injected client (its timeouts decide how fast an outage shows; see `dynamoDbClientTimeouts()`)
 * and destroys it on `close()`. Every repository maps outages to 503 (see `dynamoOutage`).
 */
export function dynamoDbBackend(
  client: DynamoDBClient,
  tableName: string,
  options: DynamoDbBackendOptions = {},
): Backend {
  if (!tableName) throw new Error('DynamoDB store needs a table name');
  const table: DynamoTable = { client, name: tableName };
  const now = options.now ?? (() => new Date());
  const audit = new DynamoAuditRepository(table, now, options.auditRetentionDays);
  const apiKeys = new DynamoApiKeyRepository(table);
  const migrated = migrationGate(table, now);
  return mapBackendOutages(
    {
      name: 'dynamodb',
      keys: new DynamoKeyRepository(table),
      leases: new DynamoLeaseRepository(table, options.leaseTtlMarginSeconds ?? 24 * 3600),
      staticKeys: new DynamoStaticKeyRepository(table),
      apiKeys,
      resources: new DynamoResourceRepository(table, migrated),
      tenants: new DynamoTenantRepository(table, apiKeys, migrated),
      audit: withAuditRetention(audit, { retentionDays: options.auditRetentionDays, now }),
      policies: new DynamoPolicyRepository(table),
      revocations: new DynamoRevocationRepository(table, now),
      transfer: new DynamoTransferRepository(table, options.auditRetentionDays),
      ping: () => ping(table),
      close: async () => client.destroy(),
    },
    dynamoOutage,
  );
}
