import crypto from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { dynamoDbBackend, migrateTenants, tenantsMigrated } from '../../src/store/dynamodb';
import { ResourceRaceError } from '../../src/store/ownership';
import type { Backend } from '../../src/store/backend';
import { dynamoClient, freshTable, startMoto } from '../helpers/moto';

// A table written by the release before tenants (item layouts as they were, no owner items, API keys
// without `tenant`) opens with every resource owned by default and old admin keys acting for all.

let endpoint = '';
let table = '';
let drop: () => Promise<void>;
const stores: Backend[] = [];

beforeAll(async () => {
  endpoint = startMoto();
  ({ table, drop } = await freshTable(endpoint));
}, 300_000);
afterAll(async () => {
  for (const store of stores) await store.close();
  await drop?.();
});

function open(): Backend {
  const store = dynamoDbBackend(dynamoClient(endpoint), table);
  stores.push(store);
  return store;
}

async function putLegacy(item: Record<string, unknown>): Promise<void> {
  const client = dynamoClient(endpoint);
  try {
    await client.send(new PutItemCommand({ TableName: table, Item: marshall(item) }));
  } finally {
    client.destroy();
  }
}

const legacyKey = (resourceId: string, origin: 'speke' | 'static') => {
  const kid = crypto.randomUUID();
  return {
    pk: `KEY#${kid}`,
    sk: 'KEY',
    kid,
    resourceId,
    sealed: crypto.randomBytes(48),
    origin,
    createdAt: 1_700_000_000_000,
  };
};

const legacyApiKey = (id: string, roles: string[]) => ({
  pk: 'APIKEY',
  sk: id,
  id,
  name: id,
  roles,
  secretHash: crypto.randomBytes(32),
  createdAt: 1_700_000_000_000,
});

describe('DynamoDB tables from before tenants', () => {
  it('migrates once, on the first owner read: every resource default, static where static; keys keep working', async () => {
    await putLegacy(legacyKey('old-speke', 'speke'));
    await putLegacy(legacyKey('old-speke', 'speke'));
    await putLegacy({
      pk: 'LEASE#old-leased',
      sk: 'LEASE',
      resourceId: 'old-leased',
      owner: 'apikey:x',
      kids: [],
      rotating: false,
      expiresAt: 1_700_000_600_000,
      version: 1,
      ttl: 1_700_100_000,
    });
    const staticKey = legacyKey('old-static', 'static');
    await putLegacy(staticKey);
    await putLegacy({
      pk: 'STATIC#old-static',
      sk: 'STATIC',
      resourceId: 'old-static',
      kid: staticKey.kid,
      createdAt: 1,
    });
    await putLegacy(legacyApiKey('0000000000000001', ['admin']));
    await putLegacy(legacyApiKey('0000000000000002', ['encoder', 'keyserver']));

    const meta = { client: dynamoClient(endpoint), name: table };
    expect(await tenantsMigrated(meta)).toBe(false);

    // Two processes opening the table at once: both gates run the (idempotent) migration.
    const [a, b] = [open(), open()];
    const [speke, leased] = await Promise.all([a.resources.get('old-speke'), b.resources.get('old-leased')]);
    expect(speke).toMatchObject({ resourceId: 'old-speke', tenant: 'default', kind: 'speke' });
    expect(leased).toMatchObject({ tenant: 'default', kind: 'speke' });
    expect(await a.resources.get('old-static')).toMatchObject({ tenant: 'default', kind: 'static' });
    expect(await tenantsMigrated(meta)).toBe(true);
    expect(await migrateTenants(meta)).toBe(0);
    meta.client.destroy();

    expect((await a.apiKeys.get('0000000000000001'))?.tenant).toBe('*');
    expect((await a.apiKeys.get('0000000000000002'))?.tenant).toBe('default');
    expect(await a.tenants.list()).toEqual(
      expect.arrayContaining([
        { tenant: 'default', apiKeys: 1, resources: 3 },
        { tenant: '*', apiKeys: 1, resources: 0 },
      ]),
    );
    expect((await a.keys.get([staticKey.kid])).get(staticKey.kid)?.resourceId).toBe('old-static');

    // Nobody can claim a migrated resource for another tenant.
    const kid = crypto.randomUUID();
    const claim = a.leases.commitIssue({
      lease: { resourceId: 'old-speke', owner: 'o', kids: [kid], rotating: false, expiresAt: new Date(), version: 1 },
      expectedLeaseVersion: undefined,
      newKeys: [{ kid, resourceId: 'old-speke', sealed: Buffer.alloc(48), origin: 'speke', createdAt: new Date() }],
      claim: { tenant: 'acme', kind: 'speke', expected: 'absent' },
    });
    await expect(claim).rejects.toBeInstanceOf(ResourceRaceError);
    expect((await a.keys.get([kid])).size).toBe(0);
  });
});
