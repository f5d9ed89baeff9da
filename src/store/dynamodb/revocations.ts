import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../aws-errors';
import { ItemReader, itemKey, toItem, type DynamoTable, type Item } from './items';
import type { RevocationRecord, RevocationRepository } from '../revocations';

/**
 * Revocation items: pk = `REVOKED#<jti>`, sk = the revoker's tenant (`-` for none); revokedBy S,
 * revokedAt N, expiresAt N, ttl N (epoch seconds = expiresAt: DynamoDB deletes the item once no token
 * with this jti can verify). One strongly consistent Query per token verification.
 */
const REVOKED_PREFIX = 'REVOKED#';
const NO_TENANT = '-';

/** A revocation item as a record (also read by the transfer scan). */
export function toRecord(item: Item): RevocationRecord {
  const r = new ItemReader(item);
  const tenant = r.string('sk');
  return {
    jti: r.string('jti'),
    ...(tenant === NO_TENANT ? {} : { tenant }),
    revokedBy: r.string('revokedBy'),
    revokedAt: r.date('revokedAt'),
    expiresAt: r.date('expiresAt'),
  };
}

/** Revocations in the shared table: every instance reads them on each token verification. */
export class DynamoRevocationRepository implements RevocationRepository {
  constructor(
    private readonly table: DynamoTable,
    private readonly now: () => Date,
  ) {}

  async put(record: RevocationRecord): Promise<void> {
    try {
      await this.table.client.send(
        new PutItemCommand({
          TableName: this.table.name,
          Item: {
            ...itemKey(REVOKED_PREFIX + record.jti, record.tenant ?? NO_TENANT),
            ...toItem({
              jti: record.jti,
              revokedBy: record.revokedBy,
              revokedAt: record.revokedAt.getTime(),
              expiresAt: record.expiresAt.getTime(),
              ttl: Math.ceil(record.expiresAt.getTime() / 1000),
            }),
          },
          // Idempotent: a second revocation keeps the first record, unless that one expired (TTL sweeps late).
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
          ExpressionAttributeValues: { ':now': { N: String(this.now().getTime()) } },
        }),
      );
    } catch (err) {
      if (awsErrorName(err) !== 'ConditionalCheckFailedException') throw err;
    }
  }

  async get(jti: string): Promise<RevocationRecord[]> {
    const res = await this.table.client.send(
      new QueryCommand({
        TableName: this.table.name,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: REVOKED_PREFIX + jti } },
        ConsistentRead: true,
      }),
    );
    // DynamoDB TTL deletes late (up to days): an expired item is skipped by its own time.
    const now = this.now().getTime();
    return (res.Items ?? []).map(toRecord).filter((r) => r.expiresAt.getTime() > now);
  }
}
