import { GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DEFAULT_TENANT } from '../../domain/tenants';
import type { ResourceKind } from '../ownership';
import { itemKey, LAYOUT, toItem, type DynamoTable, type Item } from './items';
import { putOwner, registerTenant, TENANT_LAYOUT } from './resources';

/** How many owner transactions the migration runs at once. */
const PARALLEL_CLAIMS = 8;

const markerKey = (): Item => itemKey(TENANT_LAYOUT.marker.pk, TENANT_LAYOUT.marker.sk);

interface LegacyResource {
  kind: ResourceKind;
  createdAt: number;
}

/** Every resource ID with a key, static key or lease item, and whether any of them is static. */
async function scanLegacyResources(table: DynamoTable): Promise<Map<string, LegacyResource>> {
  const found = new Map<string, LegacyResource>();
  const prefixes = { ':k': LAYOUT.key.prefix, ':s': LAYOUT.static.prefix, ':l': LAYOUT.lease.prefix };
  let startKey: Item | undefined;
  do {
    const res = await table.client.send(
      new ScanCommand({
        TableName: table.name,
        FilterExpression: 'begins_with(pk, :k) OR begins_with(pk, :s) OR begins_with(pk, :l)',
        ProjectionExpression: 'pk, resourceId, origin, createdAt, expiresAt',
        ExpressionAttributeValues: toItem(prefixes),
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of res.Items ?? []) {
      const v = unmarshall(item);
      if (typeof v.resourceId !== 'string') continue;
      const isStatic = String(v.pk).startsWith(LAYOUT.static.prefix) || v.origin === 'static';
      const at = Number(v.createdAt ?? v.expiresAt ?? 0);
      const before = found.get(v.resourceId);
      found.set(v.resourceId, {
        kind: isStatic || before?.kind === 'static' ? 'static' : 'speke',
        createdAt: Math.min(at, before?.createdAt ?? at),
      });
    }
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return found;
}

/** Whether the migration marker is there. */
export async function tenantsMigrated(table: DynamoTable): Promise<boolean> {
  const res = await table.client.send(
    new GetItemCommand({ TableName: table.name, Key: markerKey(), ConsistentRead: true }),
  );
  return res.Item !== undefined;
}

/**
 * Gives every resource of a table from before tenants an owner, `default` (static where it has a static
 * key), then writes the marker. Idempotent and safe to run from several processes at once: each owner is
 * put only if absent, together with its member item, so a resource already claimed is left alone. Until
 * the marker is written no request reads an owner (see `migrationGate`), so nobody can claim a legacy
 * resource for another tenant first. Returns how many owners it wrote.
 */
export async function migrateTenants(table: DynamoTable, now: () => Date = () => new Date()): Promise<number> {
  if (await tenantsMigrated(table)) return 0;
  const legacy = [...(await scanLegacyResources(table)).entries()];
  if (legacy.length > 0) await registerTenant(table, DEFAULT_TENANT);
  let written = 0;
  for (let i = 0; i < legacy.length; i += PARALLEL_CLAIMS) {
    const batch = legacy.slice(i, i + PARALLEL_CLAIMS);
    const results = await Promise.all(
      batch.map(([resourceId, r]) =>
        putOwner(table, { resourceId, tenant: DEFAULT_TENANT, kind: r.kind, createdAt: new Date(r.createdAt) }),
      ),
    );
    written += results.filter((found) => found === undefined).length;
  }
  await table.client.send(
    new PutItemCommand({ TableName: table.name, Item: { ...markerKey(), ...toItem({ at: now().getTime() }) } }),
  );
  return written;
}

/**
 * A function every owner read awaits: the first call checks the marker (and migrates when it is
 * missing), later calls return at once. A failed run is retried by the next call.
 */
export function migrationGate(table: DynamoTable, now?: () => Date): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= migrateTenants(table, now).then(
      () => undefined,
      (err: unknown) => {
        done = undefined;
        throw err;
      },
    );
    return done;
  };
}
