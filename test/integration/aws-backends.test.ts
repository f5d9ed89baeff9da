import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DeleteTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { awsBackends } from '../../src/compose/backends';
import { loadConfig } from '../../src/config';
import type { Backends } from '../../src/compose/services';
import { dynamoDbBackend, ensureTable } from '../../src/store/dynamodb';
import type { SqliteBackend } from '../../src/store/sqlite';
import { fixture } from '../helpers/fixtures';
import { DIST_SERVER, SHARED } from '../helpers/paths';

const MOTO = path.join(SHARED, 'tools/moto-server');
const TABLE = `keyplane-backends-${crypto.randomUUID()}`;
const ADMIN_KEY = 'backends-test-admin-key-0123456789abcdef';
let endpoint = '';
let kmsKeyId = '';
const dataDirs: string[] = [];
const opened: Backends[] = [];

function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-backends-'));
  dataDirs.push(dir);
  return dir;
}

function backends(env: Record<string, string>): Backends {
  const b = awsBackends(loadConfig({ KEYPLANE_DATA_DIR: dataDir(), AWS_REGION: 'us-east-1', ...env }));
  opened.push(b);
  return b;
}

beforeAll(async () => {
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' });
  const dynamo = new DynamoDBClient({ region: 'us-east-1', endpoint });
  await ensureTable(dynamo, TABLE);
  dynamo.destroy();
  const kms = new KMSClient({ region: 'us-east-1', endpoint });
  kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: 'keyplane backends test' }))).KeyMetadata?.KeyId ?? '';
  kms.destroy();
}, 300_000);

afterAll(async () => {
  for (const b of opened) await b.store.close();
  for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  const dynamo = new DynamoDBClient({ region: 'us-east-1', endpoint });
  await dynamo.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  dynamo.destroy();
});

describe('awsBackends(config)', () => {
  it('defaults to SQLite and the local master key', () => {
    const b = backends({});
    expect([b.store.name, b.cipher.name]).toEqual(['sqlite', 'local']);
  });

  it('uses DynamoDB and KMS, both at KEYPLANE_AWS_ENDPOINT, when configured', async () => {
    const b = backends({
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: TABLE,
      KEYPLANE_KMS_KEY_ID: kmsKeyId,
      KEYPLANE_AWS_ENDPOINT: endpoint,
    });
    expect([b.store.name, b.cipher.name]).toEqual(['dynamodb', 'kms']);
    await expect(b.store.ping()).resolves.toBeUndefined();
    const context = { resourceId: 'r', kid: 'k' };
    const sealed = await b.cipher.seal(Buffer.alloc(16, 7), context);
    await expect(b.cipher.open(sealed, context)).resolves.toEqual(Buffer.alloc(16, 7));
  });

  it('passes KEYPLANE_AUDIT_RETENTION_DAYS to either store', async () => {
    const sqlite = backends({ KEYPLANE_AUDIT_RETENTION_DAYS: '7' }).store as SqliteBackend;
    expect(sqlite.pruneExpiredAudit()).toEqual({ deleted: 0, more: false });
    const forever = backends({ KEYPLANE_AUDIT_RETENTION_DAYS: 'forever' }).store as SqliteBackend;
    expect(forever.pruneExpiredAudit()).toBeUndefined();

    const dynamo = backends({
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: TABLE,
      KEYPLANE_AWS_ENDPOINT: endpoint,
      KEYPLANE_AUDIT_RETENTION_DAYS: '7',
    }).store;
    const time = new Date();
    const id = crypto.randomUUID();
    const resourceId = crypto.randomUUID();
    await dynamo.audit.append([
      {
        id,
        time,
        resourceId,
        action: 'deliver',
        route: 'GET /keys/{resourceId}/{kid}',
        outcome: 'allowed',
        status: 200,
      },
    ]);
    const raw = new DynamoDBClient({ region: 'us-east-1', endpoint });
    const key = { pk: { S: `AUDIT#${resourceId}` }, sk: { S: `${time.toISOString()}#${id}` } };
    const item = await raw.send(new GetItemCommand({ TableName: TABLE, Key: key }));
    raw.destroy();
    expect(item.Item?.ttl).toEqual({ N: String(Math.ceil(time.getTime() / 1000 + 7 * 86_400)) });
  });

  it('chooses store and cipher independently', () => {
    const kmsOnSqlite = backends({ KEYPLANE_KMS_KEY_ID: kmsKeyId, KEYPLANE_AWS_ENDPOINT: endpoint });
    expect([kmsOnSqlite.store.name, kmsOnSqlite.cipher.name]).toEqual(['sqlite', 'kms']);
    const localOnDynamo = backends({
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: TABLE,
      KEYPLANE_AWS_ENDPOINT: endpoint,
    });
    expect([localOnDynamo.store.name, localOnDynamo.cipher.name]).toEqual(['dynamodb', 'local']);
  });
});

describe('npm start (the compiled server) with KEYPLANE_STORE=dynamodb and KEYPLANE_KMS_KEY_ID', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('serves SPEKE from DynamoDB with KMS-sealed keys and leaves the data dir empty', async () => {
    const port = await freePort();
    const dir = dataDir();
    child = spawn(process.execPath, [DIST_SERVER], {
      env: {
        ...process.env,
        KEYPLANE_PORT: String(port),
        KEYPLANE_DATA_DIR: dir,
        KEYPLANE_ADMIN_KEY: ADMIN_KEY,
        KEYPLANE_STORE: 'dynamodb',
        KEYPLANE_TABLE: TABLE,
        KEYPLANE_KMS_KEY_ID: kmsKeyId,
        KEYPLANE_AWS_ENDPOINT: endpoint,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await listening(child);
    const base = `http://127.0.0.1:${port}`;
    const health = await (await fetch(`${base}/healthz`)).json();
    expect(health).toMatchObject({ store: { backend: 'dynamodb', status: 'ok' }, cipher: 'kms' });
    const created = await fetch(`${base}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'encoder', roles: ['encoder'] }),
    });
    const { key } = (await created.json()) as { key: string };
    const speke = await fetch(`${base}/copyProtection`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/xml' },
      body: fixture('v1/hls-single-key.xml'),
    });
    expect(speke.status).toBe(200);
    const store = dynamoDbBackend(new DynamoDBClient({ region: 'us-east-1', endpoint }), TABLE);
    const lease = await store.leases.get('MovieNight20171126093045');
    expect(lease?.owner).toMatch(/^apikey:/);
    const stored = await store.keys.get(lease?.kids ?? []);
    expect([...stored.values()].map((k) => k.sealed[0])).toEqual([4]); // KMS envelope format naming its key ARN
    await store.close();
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

function listening(proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('keyplane listening')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
