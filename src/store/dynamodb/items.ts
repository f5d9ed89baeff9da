import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';

/*
 * Single-table layout. Every item has string keys `pk` (partition) and `sk` (sort); times are
 * epoch milliseconds in N attributes unless noted.
 *
 *   Key      pk = KEY#<kid>             sk = KEY     kid S, resourceId S, sealed B, origin S ('speke'|'static'),
 *                                                     createdAt N
 *   Lease    pk = LEASE#<resourceId>    sk = LEASE   resourceId S, owner S, kids L<S> (ordered), rotating BOOL,
 *                                                     expiresAt N, version N, ttl N (epoch *seconds*, DynamoDB TTL)
 *   Static   pk = STATIC#<resourceId>   sk = STATIC  resourceId S, kid S, createdAt N
 *   API key  pk = APIKEY                sk = <id>    id S, name S, roles L<S>, secretHash B, createdAt N, revokedAt N?,
 *                                                     tenant S (absent on items from before tenants: see api-keys.ts)
 *
 * Audit records, per-resource policies, resource owners/tenants and token revocations (`REVOKED#<jti>`)
 * live in the same table: see audit.ts, policies.ts, resources.ts and revocations.ts.
 *
 * A KID is globally unique, so key items are keyed by KID alone and carry the resource they are
 * bound to. All API keys share one partition so listing them is a single Query (there are few).
 * `ttl` lets DynamoDB delete expired leases `leaseTtlMarginSeconds` after `expiresAt`; the
 * version condition makes that deletion safe even while a request holds a stale read. Audit items
 * carry `ttl` too (their time plus the audit retention).
 */

/** An item as the SDK sends and returns it. */
export type Item = Record<string, AttributeValue>;

/** The table a backend's repositories share: the client (owned by the backend) and the table name. */
export interface DynamoTable {
  readonly client: DynamoDBClient;
  readonly name: string;
}

/** Partition key prefixes and fixed sort keys of the layout above. */
export const LAYOUT = {
  key: { prefix: 'KEY#', sort: 'KEY' },
  lease: { prefix: 'LEASE#', sort: 'LEASE' },
  static: { prefix: 'STATIC#', sort: 'STATIC' },
  policy: { prefix: 'POLICY#', sort: 'POLICY' },
  apiKeyPartition: 'APIKEY',
  /** Audit partitions (sort key `<ISO time>#<id>`): one per resource and one per UTC day. */
  audit: { resourcePrefix: 'AUDIT#', dayPrefix: 'AUDITDAY#' },
} as const;

/** The primary key of an item. */
export function itemKey(pk: string, sk: string): Item {
  return { pk: { S: pk }, sk: { S: sk } };
}

/** A plain object as an item (lists as L, Buffers as B, undefined attributes left out). */
export function toItem(values: Record<string, unknown>): Item {
  return marshall(values, { removeUndefinedValues: true });
}

/** Reads an item's attributes with their types checked, naming the item and attribute when one is wrong. */
export class ItemReader {
  private readonly values: Record<string, unknown>;

  constructor(item: Item) {
    this.values = unmarshall(item);
  }

  private corrupt(attr: string): Error {
    const pk = typeof this.values.pk === 'string' ? this.values.pk : '?';
    return new Error(`Corrupt DynamoDB item ${pk}: attribute ${attr} is missing or has the wrong type`);
  }

  /** Whether the attribute is present. */
  has(attr: string): boolean {
    return this.values[attr] !== undefined;
  }

  /** A string attribute. */
  string(attr: string): string {
    const v = this.values[attr];
    if (typeof v !== 'string') throw this.corrupt(attr);
    return v;
  }

  /** A string attribute, or undefined when absent. */
  optionalString(attr: string): string | undefined {
    return this.has(attr) ? this.string(attr) : undefined;
  }

  /** A finite number attribute. */
  number(attr: string): number {
    const v = this.values[attr];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.corrupt(attr);
    return v;
  }

  /** An epoch-milliseconds attribute as a Date. */
  date(attr: string): Date {
    return new Date(this.number(attr));
  }

  /** A binary attribute as a Buffer. */
  bytes(attr: string): Buffer {
    const v = this.values[attr];
    if (!(v instanceof Uint8Array)) throw this.corrupt(attr);
    return Buffer.from(v);
  }

  /** A boolean attribute. */
  boolean(attr: string): boolean {
    const v = this.values[attr];
    if (typeof v !== 'boolean') throw this.corrupt(attr);
    return v;
  }

  /** A list-of-strings attribute. */
  strings(attr: string): string[] {
    const v = this.values[attr];
    if (!Array.isArray(v) || !v.every((s): s is string => typeof s === 'string')) throw this.corrupt(attr);
    return v;
  }
}
