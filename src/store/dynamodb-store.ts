import crypto from 'node:crypto';
import type {
  AttributeValue,
  CancellationReason,
  CreateTableCommandInput,
  DynamoDBClient,
  DynamoDBClientConfig,
  TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { BadRequestError, ServiceUnavailableError } from '../errors';
import type { ApiKeyRecord, IssueCommit, KeyStore, Lease, StaticKeyRecord, StoredKey } from './key-store';
import { KeyRaceError, LeaseRaceError, StaticKeyExistsError } from './key-store';
import { DynamoDbAuditTable } from './dynamodb-audit';
import { DynamoDbPolicyStore } from './dynamodb-policy-store';
import type { PolicyStore } from './policy-store';
import type { AuditPage, AuditQuery, AuditRecord } from '../audit/audit-record';
import { awsErrorName, NETWORK_CODE } from '../aws-errors';

/*
 * Single-table layout. Every item has string keys `pk` (partition) and `sk` (sort); times are
 * epoch milliseconds in N attributes unless noted.
 *
 *   Key      pk = KEY#<kid>             sk = KEY     kid S, resourceId S, sealed B, origin S ('speke'|'static'),
 *                                                     createdAt N
 *   Lease    pk = LEASE#<resourceId>    sk = LEASE   resourceId S, owner S, kids L<S> (ordered), rotating BOOL,
 *                                                     expiresAt N, version N, ttl N (epoch *seconds*, DynamoDB TTL)
 *   Static   pk = STATIC#<resourceId>   sk = STATIC  resourceId S, kid S, createdAt N
 *   API key  pk = APIKEY                sk = <id>    id S, name S, roles L<S>, secretHash B, createdAt N, revokedAt N?
 *
 * Audit records and per-resource policies live in the same table: see dynamodb-audit.ts and
 * dynamodb-policy-store.ts.
 *
 * A KID is globally unique, so key items are keyed by KID alone and carry the resource they are
 * bound to. All API keys share one partition so listing them is a single Query (there are few).
 * `ttl` lets DynamoDB delete expired leases `leaseTtlMarginSeconds` after `expiresAt`; the
 * version condition makes that deletion safe even while a request holds a stale read. Audit items
 * carry `ttl` too (their time plus the audit retention).
 */

type Item = Record<string, AttributeValue>;

const KEY_PREFIX = 'KEY#';
const LEASE_PREFIX = 'LEASE#';
const STATIC_PREFIX = 'STATIC#';
const API_KEY_PARTITION = 'APIKEY';
/** DynamoDB's limit on actions in one TransactWriteItems call. */
const MAX_TRANSACTION_ITEMS = 100;
/** DynamoDB's limit on keys in one BatchGetItem call. */
const MAX_BATCH_GET_KEYS = 100;
const MAX_UNPROCESSED_RETRIES = 8;

/** Failures that mean "DynamoDB cannot serve now" (503); anything else is our bug and propagates. */
const UNAVAILABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionInProgressException',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'CredentialsProviderError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);
const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);
const THROTTLE_REASONS = new Set(['ThrottlingError', 'ProvisionedThroughputExceeded', 'RequestLimitExceeded']);
/** Cancellation reasons that mean another writer got there first: retry from the read. */
const RACE_REASONS = new Set(['ConditionalCheckFailed', 'TransactionConflict']);

/** Options of the DynamoDB store. */
export interface DynamoDbKeyStoreOptions {
  /** How long after `expiresAt` DynamoDB TTL may delete a lease item. Default one day. */
  leaseTtlMarginSeconds?: number;
  /**
   * Days audit records are kept: each audit item gets `ttl` = its time plus this, and reads skip older
   * records (see dynamodb-audit.ts). Absent: kept forever.
   */
  auditRetentionDays?: number;
  /** The clock audit reads are judged by (tests inject one). */
  now?: () => Date;
}

/**
 * Client settings that make a DynamoDB outage surface within seconds (1 s connect, 3 s per
 * request, 3 attempts). Spread into `new DynamoDBClient({ region, ...dynamoDbClientTimeouts() })`.
 */
export function dynamoDbClientTimeouts(): Pick<DynamoDBClientConfig, 'maxAttempts' | 'requestHandler'> {
  return {
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
  };
}

/** The CreateTable input for Keyplane's table (on-demand capacity, string `pk`/`sk`), for IaC and tests. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  };
}

/** Creates the table and enables TTL on `ttl` when missing; for tests and local runs (production uses IaC). */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (err) {
    if (awsErrorName(err) !== 'ResourceNotFoundException') throw err;
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (createErr) {
      if (awsErrorName(createErr) !== 'ResourceInUseException') throw createErr;
    }
  }
  await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName: tableName });
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status !== 'ENABLED' && status !== 'ENABLING') {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      }),
    );
  }
}

/**
 * The serverless store: one DynamoDB table, strongly consistent reads, and conditional
 * TransactWriteItems so a lease and its new keys are written all or nothing. The store owns the
 * injected client (its timeouts decide how fast an outage shows; see `dynamoDbClientTimeouts()`)
 * and destroys it on `close()`.
 */
export class DynamoDbKeyStore implements KeyStore {
  readonly name = 'dynamodb';
  /** Per-resource delivery policies, as `POLICY#<resourceId>` items of the same table. */
  readonly policies: PolicyStore;
  private readonly ttlMarginSeconds: number;
  private readonly audit: DynamoDbAuditTable;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbKeyStoreOptions = {},
  ) {
    if (!tableName) throw new Error('DynamoDB store needs a table name');
    this.ttlMarginSeconds = options.leaseTtlMarginSeconds ?? 24 * 3600;
    this.audit = new DynamoDbAuditTable(
      client,
      tableName,
      (send) => this.call(send),
      options.now ?? (() => new Date()),
      options.auditRetentionDays,
    );
    this.policies = new DynamoDbPolicyStore(client, tableName, (send) => this.call(send));
  }

  async getLease(resourceId: string): Promise<Lease | undefined> {
    const res = await this.call(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: itemKey(LEASE_PREFIX + resourceId, 'LEASE'),
          ConsistentRead: true,
        }),
      ),
    );
    return res.Item && toLease(res.Item);
  }

  async getKeys(kids: string[]): Promise<Map<string, StoredKey>> {
    const unique = [...new Set(kids)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += MAX_BATCH_GET_KEYS) chunks.push(unique.slice(i, i + MAX_BATCH_GET_KEYS));
    const items = (await Promise.all(chunks.map((chunk) => this.batchGet(chunk)))).flat();
    const found = new Map<string, StoredKey>();
    for (const item of items) {
      const key = toStoredKey(item);
      found.set(key.kid, key);
    }
    return found;
  }

  async commitIssue(commit: IssueCommit): Promise<void> {
    const { lease, expectedLeaseVersion, newKeys } = commit;
    if (newKeys.length + 1 > MAX_TRANSACTION_ITEMS) {
      // A request with this many new KIDs is the caller's to split, not our bug: 400, not 500.
      throw new BadRequestError(
        `Cannot commit ${newKeys.length} new keys at once: a DynamoDB transaction holds at most ` +
          `${MAX_TRANSACTION_ITEMS - 1} keys plus the lease`,
      );
    }
    assertDistinctKids(newKeys);
    const items: TransactWriteItem[] = [
      { Put: this.leasePut(lease, expectedLeaseVersion) },
      ...newKeys.map((k) => this.keyPut(k)),
    ];
    const reasons = await this.transact(items);
    if (!reasons) return;
    const leaseCode = reasons[0]?.Code;
    if (leaseCode && RACE_REASONS.has(leaseCode)) {
      const existing = reasons[0]?.Item ? toLease(reasons[0].Item) : await this.getLease(lease.resourceId);
      throw new LeaseRaceError(lease.resourceId, existing);
    }
    const keyIndex = reasons.findIndex((r, i) => i > 0 && r.Code !== undefined && RACE_REASONS.has(r.Code));
    const racedKey = newKeys[keyIndex - 1];
    if (keyIndex > 0 && racedKey) throw new KeyRaceError(racedKey.kid);
    throw unexplainedCancellation(reasons);
  }

  async deleteLease(resourceId: string): Promise<boolean> {
    const res = await this.call(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: itemKey(LEASE_PREFIX + resourceId, 'LEASE'),
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    return Object.keys(res.Attributes ?? {}).length > 0;
  }

  async getStaticKey(resourceId: string): Promise<StaticKeyRecord | undefined> {
    const res = await this.call(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: itemKey(STATIC_PREFIX + resourceId, 'STATIC'),
          ConsistentRead: true,
        }),
      ),
    );
    return res.Item && toStaticKey(res.Item);
  }

  async putStaticKey(record: StaticKeyRecord, key: StoredKey): Promise<void> {
    const staticPut: TransactWriteItem = {
      Put: {
        TableName: this.tableName,
        Item: {
          ...itemKey(STATIC_PREFIX + record.resourceId, 'STATIC'),
          resourceId: { S: record.resourceId },
          kid: { S: record.kid },
          createdAt: num(record.createdAt.getTime()),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
    const reasons = await this.transact([staticPut, this.keyPut(key)]);
    if (!reasons) return;
    if (reasons[0]?.Code && RACE_REASONS.has(reasons[0].Code)) {
      const existing = reasons[0].Item ? toStaticKey(reasons[0].Item) : await this.getStaticKey(record.resourceId);
      // A conflict without a stored record was a concurrent transaction still in flight: retry.
      if (!existing) throw new KeyRaceError(key.kid);
      throw new StaticKeyExistsError(existing);
    }
    if (reasons[1]?.Code && RACE_REASONS.has(reasons[1].Code)) throw new KeyRaceError(key.kid);
    throw unexplainedCancellation(reasons);
  }

  async putApiKey(record: ApiKeyRecord): Promise<void> {
    const item: Item = {
      ...itemKey(API_KEY_PARTITION, record.id),
      id: { S: record.id },
      name: { S: record.name },
      roles: { L: record.roles.map((r) => ({ S: r })) },
      secretHash: { B: record.secretHash },
      createdAt: num(record.createdAt.getTime()),
    };
    if (record.revokedAt) item.revokedAt = num(record.revokedAt.getTime());
    try {
      await this.call(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException')
        throw new Error(`API key ${record.id} already exists`);
      throw err;
    }
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const res = await this.call(() =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: itemKey(API_KEY_PARTITION, id), ConsistentRead: true }),
      ),
    );
    return res.Item && toApiKey(res.Item);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const records: ApiKeyRecord[] = [];
    let startKey: Item | undefined;
    do {
      const res = await this.call(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: API_KEY_PARTITION } },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      records.push(...(res.Items ?? []).map(toApiKey));
      startKey = res.LastEvaluatedKey;
    } while (startKey);
    return records.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    try {
      await this.call(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: itemKey(API_KEY_PARTITION, id),
            UpdateExpression: 'SET revokedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
            ExpressionAttributeValues: { ':at': num(at.getTime()) },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /** Audit items (see dynamodb-audit.ts): per resource and per UTC day. */
  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    await this.audit.append(records);
  }

  async queryAudit(query: AuditQuery): Promise<AuditPage> {
    return this.audit.query(query);
  }

  async ping(): Promise<void> {
    const res = await this.call(() => this.client.send(new DescribeTableCommand({ TableName: this.tableName })));
    const status = res.Table?.TableStatus;
    if (status !== 'ACTIVE' && status !== 'UPDATING') {
      throw new ServiceUnavailableError(`DynamoDB unavailable: table ${this.tableName} is ${status ?? 'unknown'}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private leasePut(lease: Lease, expectedVersion: number | undefined): NonNullable<TransactWriteItem['Put']> {
    const expiresAt = lease.expiresAt.getTime();
    return {
      TableName: this.tableName,
      Item: {
        ...itemKey(LEASE_PREFIX + lease.resourceId, 'LEASE'),
        resourceId: { S: lease.resourceId },
        owner: { S: lease.owner },
        kids: { L: lease.kids.map((k) => ({ S: k })) },
        rotating: { BOOL: lease.rotating },
        expiresAt: num(expiresAt),
        version: num(lease.version),
        ttl: num(Math.ceil(expiresAt / 1000) + this.ttlMarginSeconds),
      },
      ...(expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :expected',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':expected': num(expectedVersion) },
          }),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    };
  }

  private keyPut(key: StoredKey): TransactWriteItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          ...itemKey(KEY_PREFIX + key.kid, 'KEY'),
          kid: { S: key.kid },
          resourceId: { S: key.resourceId },
          sealed: { B: key.sealed },
          origin: { S: key.origin },
          createdAt: num(key.createdAt.getTime()),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  /**
   * Runs a write transaction. Returns undefined on success, or the cancellation reasons (one
   * per item, in order) when a condition failed or another transaction conflicted.
   */
  private async transact(items: TransactWriteItem[]): Promise<CancellationReason[] | undefined> {
    try {
      // The token makes the SDK's own retries idempotent: a retried commit that already applied succeeds.
      const token = crypto.randomUUID();
      await this.call(() =>
        this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token })),
      );
      return undefined;
    } catch (err) {
      if (awsErrorName(err) !== 'TransactionCanceledException') throw err;
      const reasons = cancellationReasons(err, items.length);
      if (reasons.some((r) => r.Code !== undefined && THROTTLE_REASONS.has(r.Code))) {
        throw new ServiceUnavailableError('DynamoDB unavailable: transaction throttled', 1, err);
      }
      return reasons;
    }
  }

  /** One BatchGetItem chunk, re-asking for UnprocessedKeys with backoff. */
  private async batchGet(kids: string[]): Promise<Item[]> {
    const items: Item[] = [];
    let keys: Item[] = kids.map((kid) => itemKey(KEY_PREFIX + kid, 'KEY'));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) {
        throw new ServiceUnavailableError('DynamoDB unavailable: BatchGetItem keeps returning unprocessed keys', 1);
      }
      if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
      const request = { [this.tableName]: { Keys: keys, ConsistentRead: true } };
      const res = await this.call(() => this.client.send(new BatchGetItemCommand({ RequestItems: request })));
      items.push(...(res.Responses?.[this.tableName] ?? []));
      keys = res.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
    return items;
  }

  /** Runs one DynamoDB call, turning outages into ServiceUnavailableError. */
  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      const name = awsErrorName(err);
      throw new ServiceUnavailableError(`DynamoDB unavailable: ${name}`, THROTTLE_NAMES.has(name) ? 1 : 5, err);
    }
  }
}

function itemKey(pk: string, sk: string): Item {
  return { pk: { S: pk }, sk: { S: sk } };
}

function num(value: number): AttributeValue {
  return { N: String(value) };
}

function assertDistinctKids(keys: StoredKey[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key.kid)) throw new Error(`KID ${key.kid} appears twice in one commit`);
    seen.add(key.kid);
  }
}

function corrupt(item: Item, attr: string): Error {
  return new Error(`Corrupt DynamoDB item ${item.pk?.S ?? '?'}: attribute ${attr} is missing or has the wrong type`);
}

function readS(item: Item, attr: string): string {
  const v = item[attr]?.S;
  if (v === undefined) throw corrupt(item, attr);
  return v;
}

function readN(item: Item, attr: string): number {
  const v = Number(item[attr]?.N);
  if (!Number.isFinite(v)) throw corrupt(item, attr);
  return v;
}

function readB(item: Item, attr: string): Buffer {
  const v = item[attr]?.B;
  if (v === undefined) throw corrupt(item, attr);
  return Buffer.from(v);
}

function readBool(item: Item, attr: string): boolean {
  const v = item[attr]?.BOOL;
  if (v === undefined) throw corrupt(item, attr);
  return v;
}

function readStrings(item: Item, attr: string): string[] {
  const list = item[attr]?.L;
  if (list === undefined) throw corrupt(item, attr);
  return list.map((v) => {
    if (v.S === undefined) throw corrupt(item, attr);
    return v.S;
  });
}

function toLease(item: Item): Lease {
  return {
    resourceId: readS(item, 'resourceId'),
    owner: readS(item, 'owner'),
    kids: readStrings(item, 'kids'),
    rotating: readBool(item, 'rotating'),
    expiresAt: new Date(readN(item, 'expiresAt')),
    version: readN(item, 'version'),
  };
}

function toStoredKey(item: Item): StoredKey {
  return {
    kid: readS(item, 'kid'),
    resourceId: readS(item, 'resourceId'),
    sealed: readB(item, 'sealed'),
    origin: readS(item, 'origin') === 'static' ? 'static' : 'speke',
    createdAt: new Date(readN(item, 'createdAt')),
  };
}

function toStaticKey(item: Item): StaticKeyRecord {
  return {
    resourceId: readS(item, 'resourceId'),
    kid: readS(item, 'kid'),
    createdAt: new Date(readN(item, 'createdAt')),
  };
}

function toApiKey(item: Item): ApiKeyRecord {
  const record: ApiKeyRecord = {
    id: readS(item, 'id'),
    name: readS(item, 'name'),
    roles: readStrings(item, 'roles'),
    secretHash: readB(item, 'secretHash'),
    createdAt: new Date(readN(item, 'createdAt')),
  };
  if (item.revokedAt) record.revokedAt = new Date(readN(item, 'revokedAt'));
  return record;
}

/**
 * The per-item reasons of a TransactionCanceledException. Falls back to the codes listed in the
 * message ("... [ConditionalCheckFailed, None]") for emulators that omit CancellationReasons.
 */
function cancellationReasons(err: unknown, itemCount: number): CancellationReason[] {
  const reasons = (err as { CancellationReasons?: CancellationReason[] }).CancellationReasons;
  if (reasons && reasons.length === itemCount) return reasons;
  const listed = /\[([^\]]*)\]\s*$/.exec(err instanceof Error ? err.message : '')?.[1];
  const codes = listed?.split(',').map((c) => c.trim()) ?? [];
  return codes.length === itemCount ? codes.map((Code) => ({ Code })) : [];
}

function unexplainedCancellation(reasons: CancellationReason[]): Error {
  const codes = reasons.map((r) => r.Code ?? 'None').join(', ');
  return new Error(`DynamoDB cancelled the transaction for an unexpected reason: [${codes}]`);
}

function isUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { $fault, $metadata } = err as { $fault?: string; $metadata?: { httpStatusCode?: number } };
  const name = awsErrorName(err);
  if (UNAVAILABLE_NAMES.has(name) || NETWORK_CODE.test(name)) return true;
  return $fault === 'server' || ($metadata?.httpStatusCode ?? 0) >= 500;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
