import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import {
  DeleteTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../../src/errors';
import { dynamoDbBackend, dynamoDbClientTimeouts, ensureTable } from '../../src/store/dynamodb';
import { startSerialMoto } from '../helpers/moto';
import { describeBackendContract } from './store-contract';
import { SHARED } from '../helpers/paths';

/** The claim a single-tenant first commit makes (these tests are about DynamoDB, not tenants). */
const claim = { tenant: 'default', kind: 'speke', expected: 'absent' } as const;

const MOTO = path.join(SHARED, 'tools/moto-server');
const TABLE = `keyplane-test-${crypto.randomUUID()}`;
let endpoint = '';

function client(at = endpoint): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint: at, ...dynamoDbClientTimeouts() });
}

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_REGION = 'us-east-1';
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  const admin = client();
  await ensureTable(admin, TABLE);
  admin.destroy();
}, 300_000);

afterAll(async () => {
  const admin = client();
  await admin.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  admin.destroy();
});

// The contract's race tests need serializable transactions, as DynamoDB's are; moto's threaded
// server is not (see startSerialMoto), so the contract runs against a moto serving one request at a time.
let serial: { endpoint: string; stop: () => Promise<void> } | undefined;
beforeAll(async () => {
  serial = await startSerialMoto();
  const admin = client(serial.endpoint);
  await ensureTable(admin, TABLE);
  admin.destroy();
}, 300_000);
afterAll(async () => {
  await serial?.stop();
});

describeBackendContract('dynamodb (moto, serial)', async (options) => {
  const store = dynamoDbBackend(client(serial?.endpoint), TABLE, options);
  return { store, cleanup: () => store.close() };
});

describe('DynamoDB backend specifics', () => {
  it('ensureTable is idempotent and enables TTL on `ttl`', async () => {
    const admin = client();
    try {
      await ensureTable(admin, TABLE);
      const ttl = await admin.send(new DescribeTimeToLiveCommand({ TableName: TABLE }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
    } finally {
      admin.destroy();
    }
  });

  it('writes a DynamoDB TTL a margin after the lease expires', async () => {
    const raw = client();
    const store = dynamoDbBackend(client(), TABLE, { leaseTtlMarginSeconds: 3600 });
    try {
      const expiresAt = new Date(Date.now() + 600_500);
      const resourceId = crypto.randomUUID();
      const lease = { resourceId, owner: 'o', kids: [], rotating: false, expiresAt, version: 1 };
      await store.leases.commitIssue({ lease, expectedLeaseVersion: undefined, newKeys: [], claim });
      const item = await raw.send(
        new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `LEASE#${resourceId}` }, sk: { S: 'LEASE' } } }),
      );
      expect(Number(item.Item?.ttl?.N)).toBe(Math.ceil(expiresAt.getTime() / 1000) + 3600);
    } finally {
      raw.destroy();
      await store.close();
    }
  });

  it('gives both items of an audit record the TTL attribute: its time plus the retention, in epoch seconds', async () => {
    const raw = client();
    const store = dynamoDbBackend(client(), TABLE, { auditRetentionDays: 7 });
    const forever = dynamoDbBackend(client(), TABLE);
    try {
      const time = new Date(Date.now() - 1234);
      const base = {
        action: 'deliver',
        route: 'GET /keys/{resourceId}/{kid}',
        outcome: 'allowed',
        status: 200,
      } as const;
      const kept = { ...base, id: crypto.randomUUID(), time, resourceId: crypto.randomUUID() };
      const untimed = { ...base, id: crypto.randomUUID(), time, resourceId: crypto.randomUUID() };
      await store.audit.append([kept]);
      await forever.audit.append([untimed]);
      const sk = `${time.toISOString()}#`;
      const day = time.toISOString().slice(0, 10);
      const ttlOf = async (pk: string, id: string) =>
        (await raw.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: pk }, sk: { S: sk + id } } }))).Item
          ?.ttl;
      const expected = { N: String(Math.ceil((time.getTime() + 7 * 24 * 3600 * 1000) / 1000)) };
      expect(await ttlOf(`AUDIT#${kept.resourceId}`, kept.id)).toEqual(expected);
      expect(await ttlOf(`AUDITDAY#${day}`, kept.id)).toEqual(expected);
      expect(await ttlOf(`AUDIT#${untimed.resourceId}`, untimed.id)).toBeUndefined();
      expect(await ttlOf(`AUDITDAY#${day}`, untimed.id)).toBeUndefined();
    } finally {
      raw.destroy();
      await store.close();
      await forever.close();
    }
  });

  it('does not read expired audit items that the TTL sweeper has not deleted yet', async () => {
    const raw = client();
    let now = Date.now();
    const store = dynamoDbBackend(client(), TABLE, { auditRetentionDays: 2, now: () => new Date(now) });
    try {
      const resourceId = crypto.randomUUID();
      const time = new Date(now - 1000);
      const item = {
        id: crypto.randomUUID(),
        time,
        resourceId,
        action: 'issue',
        route: 'POST /copyProtection',
        outcome: 'allowed',
        status: 200,
      } as const;
      await store.audit.append([item]);
      expect((await store.audit.query({ resourceId, limit: 10 })).records.map((r) => r.id)).toEqual([item.id]);
      now += 2 * 24 * 3600 * 1000; // 1 s past the retention; moto, like a lagging sweeper, keeps the items
      const key = { pk: { S: `AUDIT#${resourceId}` }, sk: { S: `${time.toISOString()}#${item.id}` } };
      expect((await raw.send(new GetItemCommand({ TableName: TABLE, Key: key }))).Item).toBeDefined();
      expect((await store.audit.query({ resourceId, limit: 10 })).records).toEqual([]);
      const global = await store.audit.query({ since: new Date(time.getTime() - 1), limit: 1000 });
      expect(global.records.map((r) => r.id)).not.toContain(item.id);
    } finally {
      raw.destroy();
      await store.close();
    }
  });

  it('refuses a commit that does not fit one transaction', async () => {
    const store = dynamoDbBackend(client(), TABLE);
    try {
      const resourceId = crypto.randomUUID();
      const newKeys = Array.from({ length: 100 }, () => ({
        kid: crypto.randomUUID(),
        resourceId,
        sealed: Buffer.alloc(8),
        origin: 'speke' as const,
        createdAt: new Date(),
      }));
      const lease = { resourceId, owner: 'o', kids: [], rotating: false, expiresAt: new Date(), version: 1 };
      await expect(
        store.leases.commitIssue({ lease, expectedLeaseVersion: undefined, newKeys, claim }),
      ).rejects.toThrow(/at most 97 keys/);
      await expect(store.leases.get(resourceId)).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('keeps a policy as one POLICY#<resourceId> item with its lists as L<S>', async () => {
    const raw = client();
    const store = dynamoDbBackend(client(), TABLE);
    try {
      const resourceId = crypto.randomUUID();
      const updatedAt = new Date(1_700_000_000_000);
      await store.policies.put({ resourceId, denyIps: ['203.0.113.7'], updatedAt });
      const key = { pk: { S: `POLICY#${resourceId}` }, sk: { S: 'POLICY' } };
      const item = await raw.send(new GetItemCommand({ TableName: TABLE, Key: key }));
      expect(item.Item).toEqual({
        ...key,
        resourceId: { S: resourceId },
        denyIps: { L: [{ S: '203.0.113.7' }] },
        updatedAt: { N: '1700000000000' },
      });
      // Policies are part of every Backend (no lookup by casting any more); this one reads its own item.
      expect((await store.policies.get(resourceId))?.denyIps).toEqual(['203.0.113.7']);
    } finally {
      raw.destroy();
      await store.close();
    }
  });

  it('refuses a corrupt policy item with an error naming it, and a policy without a valid date', async () => {
    const raw = client();
    const store = dynamoDbBackend(client(), TABLE);
    try {
      const resourceId = crypto.randomUUID();
      const Item = {
        pk: { S: `POLICY#${resourceId}` },
        sk: { S: 'POLICY' },
        resourceId: { S: resourceId },
        allowIps: { S: '10.0.0.1' },
        updatedAt: { N: '1' },
      };
      await raw.send(new PutItemCommand({ TableName: TABLE, Item }));
      await expect(store.policies.get(resourceId)).rejects.toThrow(/POLICY#.*attribute allowIps/);
      const invalid = { resourceId: crypto.randomUUID(), updatedAt: new Date(NaN) };
      await expect(store.policies.put(invalid)).rejects.toThrow(/valid updatedAt/);
      await expect(store.policies.get(invalid.resourceId)).resolves.toBeUndefined();
    } finally {
      raw.destroy();
      await store.close();
    }
  });

  it('reports an unreachable DynamoDB as ServiceUnavailableError from every policy call', async () => {
    const store = dynamoDbBackend(client(`http://127.0.0.1:${await closedPort()}`), TABLE);
    try {
      for (const call of [
        () => store.policies.get('r1'),
        () => store.policies.put({ resourceId: 'r1', denyIps: ['192.0.2.1'], updatedAt: new Date() }),
        () => store.policies.delete('r1'),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ServiceUnavailableError);
        expect((err as ServiceUnavailableError).headers['Retry-After']).toBeDefined();
      }
    } finally {
      await store.close();
    }
  });

  it('reports a missing table as ServiceUnavailableError from ping', async () => {
    const store = dynamoDbBackend(client(), `missing-${crypto.randomUUID()}`);
    try {
      await expect(store.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
    } finally {
      await store.close();
    }
  });

  it('reports an unreachable DynamoDB as ServiceUnavailableError quickly', async () => {
    const port = await closedPort();
    const store = dynamoDbBackend(client(`http://127.0.0.1:${port}`), TABLE);
    const started = Date.now();
    try {
      const err = await store.leases.get('r1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect((err as ServiceUnavailableError).status).toBe(503);
      expect((err as ServiceUnavailableError).headers['Retry-After']).toBeDefined();
      expect((err as Error).message).toMatch(/DynamoDB unavailable: ECONNREFUSED/);
      await expect(store.ping()).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await store.close();
    }
  });
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
