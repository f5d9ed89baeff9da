import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { NS } from '../../src/cpix/namespaces';
import { createLambdaHandler, handler, type LambdaProxyResult } from '../../src/lambda';
import type { Backend } from '../../src/store/backend';
import { dynamoDbBackend, ensureTable } from '../../src/store/dynamodb';
import { assumedRoleCaller, restApiEvent, type EventSpec } from '../helpers/api-gateway-event';
import { drmField, responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { SHARED } from '../helpers/paths';

const MOTO = path.join(SHARED, 'tools/moto-server');
const TABLE = `keyplane-lambda-${crypto.randomUUID()}`;
const ADMIN_KEY = 'lambda-test-admin-key-0123456789abcdef';
const PUBLIC_URL = 'https://kp7x2abcde.execute-api.us-east-1.amazonaws.com/prod';
const DEPLOYMENT = `lambda-test-${crypto.randomUUID()}`;
const RESOURCE = 'several-keys-1';
const MEDIACONVERT = assumedRoleCaller('KeyplaneMediaConvert-prod');
const OTHER_ENCODER = assumedRoleCaller('SomeOtherEncoderRole');

let endpoint = '';
let adminDynamo: DynamoDBClient;
let verifyStore: Backend;
const ownClients: object[] = [];
const dynamoSend = jest.spyOn(DynamoDBClient.prototype, 'send');
const kmsSend = jest.spyOn(KMSClient.prototype, 'send');

function lambdaContext(): Record<string, unknown> {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'keyplane-prod-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:keyplane-prod-api',
    memoryLimitInMB: '1024',
    awsRequestId: crypto.randomUUID(),
    logGroupName: '/aws/lambda/keyplane-prod-api',
    logStreamName: '2026/11/23/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 10_000,
  };
}

const invoke = (spec: EventSpec, run = handler): Promise<LambdaProxyResult> => run(restApiEvent(spec), lambdaContext());

const bodyBytes = (res: LambdaProxyResult): Buffer => Buffer.from(res.body, res.isBase64Encoded ? 'base64' : 'utf8');
const json = (res: LambdaProxyResult): Record<string, unknown> => JSON.parse(bodyBytes(res).toString('utf8'));

const speke = (iam = MEDIACONVERT, body = fixture('v1/hls-several-keys.xml')) =>
  invoke({ method: 'POST', path: '/copyProtection', iam, headers: { 'Content-Type': 'application/xml' }, body });

beforeAll(async () => {
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' });
  adminDynamo = new DynamoDBClient({ region: 'us-east-1', endpoint });
  await ensureTable(adminDynamo, TABLE);
  const kms = new KMSClient({ region: 'us-east-1', endpoint });
  const created = await kms.send(new CreateKeyCommand({ Description: 'keyplane lambda test' }));
  const verifyClient = new DynamoDBClient({ region: 'us-east-1', endpoint });
  verifyStore = dynamoDbBackend(verifyClient, TABLE);
  ownClients.push(adminDynamo, kms, verifyClient);
  Object.assign(process.env, {
    KEYPLANE_STORE: 'dynamodb',
    KEYPLANE_TABLE: TABLE,
    KEYPLANE_AWS_ENDPOINT: endpoint,
    KEYPLANE_KMS_KEY_ID: created.KeyMetadata?.KeyId ?? '',
    KEYPLANE_DEPLOYMENT: DEPLOYMENT,
    KEYPLANE_ADMIN_KEY: ADMIN_KEY,
    KEYPLANE_PUBLIC_URL: PUBLIC_URL,
    KEYPLANE_LOG_LEVEL: 'silent',
  });
  kms.destroy();
}, 300_000);

afterAll(async () => {
  await verifyStore.close();
  await adminDynamo.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  adminDynamo.destroy();
});

describe('Lambda handler behind API Gateway (REST, AWS_IAM on /copyProtection), DynamoDB + KMS in moto', () => {
  let firstKeys: Map<string, { key: Buffer }>;

  it('serves a full SPEKE v1 exchange to an IAM caller without any API key', async () => {
    const res = await speke();
    expect(res.statusCode).toBe(200);
    expect(res.isBase64Encoded).toBe(false);
    expect(res.headers['content-type']).toMatch(/^application\/xml/);
    expect(res.headers['speke-user-agent']).toMatch(/^Keyplane\//);
    firstKeys = responseKeys(res.body);
    expect(firstKeys.size).toBe(2);
    for (const [kid, { key }] of firstKeys) {
      expect(key).toHaveLength(16);
      expect(drmField(res.body, kid, NS.cpix, 'URIExtXKey')).toBe(`${PUBLIC_URL}/keys/${RESOURCE}/${kid}`);
    }
    const lease = await verifyStore.leases.get(RESOURCE);
    expect(lease?.owner).toBe(`iam:${MEDIACONVERT.userArn}`);
    const stored = await verifyStore.keys.get([...firstKeys.keys()]);
    expect(stored.size).toBe(2);
    for (const [kid, record] of stored) {
      expect(record.sealed[0]).toBe(4); // the KMS envelope format (naming its key ARN), not the local cipher's
      expect(record.sealed.includes(firstKeys.get(kid)?.key as Buffer)).toBe(false);
    }
  });

  it('returns the same keys when the same IAM caller repeats the request', async () => {
    const res = await speke();
    expect(res.statusCode).toBe(200);
    expect(responseKeys(res.body)).toEqual(firstKeys);
  });

  it('rejects a second IAM principal for the same resource ID with 409', async () => {
    const res = await speke(OTHER_ENCODER);
    expect(res.statusCode).toBe(409);
    expect(json(res)).toMatchObject({ error: 'lease_conflict', resourceId: RESOURCE });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('delivers a key as 16 raw bytes through API Gateway (isBase64Encoded) to a keyserver API key', async () => {
    const created = await invoke({
      method: 'POST',
      path: '/api-keys',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'cdn-key-proxy', roles: ['keyserver'] }),
    });
    expect(created.statusCode).toBe(201);
    const keyserverKey = json(created).key as string;
    for (const [kid, { key }] of firstKeys) {
      const res = await invoke({
        method: 'GET',
        path: `/keys/${RESOURCE}/${kid}`,
        headers: { 'x-api-key': keyserverKey },
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/octet-stream');
      expect(res.isBase64Encoded).toBe(true);
      const bytes = Buffer.from(res.body, 'base64');
      expect(bytes).toHaveLength(16);
      expect(bytes.equals(key)).toBe(true);
    }
  });

  it('answers 401 to a request with neither an IAM identity nor an API key, whatever headers claim', async () => {
    const plain = await invoke({
      method: 'POST',
      path: '/copyProtection',
      headers: { 'Content-Type': 'application/xml' },
      body: fixture('v1/hls-single-key.xml'),
    });
    expect(plain.statusCode).toBe(401);
    const forged = await invoke({
      method: 'POST',
      path: '/copyProtection',
      headers: {
        'Content-Type': 'application/xml',
        'X-Amzn-Iam-User-Arn': MEDIACONVERT.userArn,
        'X-Amz-User-Arn': MEDIACONVERT.userArn,
        'X-Apigateway-Context': JSON.stringify({ identity: { userArn: MEDIACONVERT.userArn } }),
      },
      body: fixture('v1/hls-single-key.xml'),
    });
    expect(forged.statusCode).toBe(401);
    expect(await verifyStore.leases.get('MovieNight20171126093045')).toBeUndefined();
  });

  it('gives an IAM caller the encoder role only', async () => {
    const res = await invoke({ method: 'GET', path: '/api-keys', iam: MEDIACONVERT });
    expect(res.statusCode).toBe(403);
  });

  it('answers public routes through the proxy and reports the DynamoDB store and KMS cipher', async () => {
    const res = await invoke({ method: 'GET', path: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ status: 'ok', store: { backend: 'dynamodb', status: 'ok' }, cipher: 'kms' });
  });

  it('built one DynamoDB and one KMS client for all invocations, and one data key', () => {
    const containerClients = (spy: jest.SpyInstance) =>
      new Set(spy.mock.contexts.filter((c) => !ownClients.includes(c as object)));
    // The store's client, plus the one the cold start used for its DescribeTable (then destroyed).
    expect(containerClients(dynamoSend).size).toBe(2);
    expect(containerClients(kmsSend).size).toBe(1);
    const generateCalls = kmsSend.mock.calls.filter(([command]) => command instanceof GenerateDataKeyCommand);
    expect(generateCalls).toHaveLength(1);
  });
});

describe('Lambda start-up errors', () => {
  const saved: Record<string, string | undefined> = {};
  const setEnv = (vars: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(vars)) {
      saved[name] ??= process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  afterEach(() => setEnv(saved));

  const isolatedHandler = (): typeof handler => {
    let fresh: typeof handler = handler;
    jest.isolateModules(() => {
      fresh = (require('../../src/lambda') as typeof import('../../src/lambda')).handler;
    });
    return fresh;
  };

  it.each([
    ['KEYPLANE_STORE=sqlite', { KEYPLANE_STORE: 'sqlite' }, 'KEYPLANE_STORE'],
    ['no KEYPLANE_KMS_KEY_ID', { KEYPLANE_KMS_KEY_ID: undefined }, 'KEYPLANE_KMS_KEY_ID'],
    ['no KEYPLANE_TABLE', { KEYPLANE_TABLE: undefined }, 'KEYPLANE_TABLE'],
  ])('answers 500 naming the variable (%s), then starts once it is fixed', async (_label, vars, variable) => {
    const fresh = isolatedHandler();
    setEnv(vars);
    const broken = await invoke({ method: 'GET', path: '/healthz' }, fresh);
    expect(broken.statusCode).toBe(500);
    expect(json(broken)).toEqual({ error: 'misconfigured', message: expect.stringContaining(`${variable}:`) });
    setEnv(saved);
    const fixed = await invoke({ method: 'GET', path: '/healthz' }, fresh);
    expect(fixed.statusCode).toBe(200);
  });

  it('answers 503 naming a missing table and how to create it, then starts once it exists', async () => {
    const fresh = isolatedHandler();
    const missing = `keyplane-missing-${crypto.randomUUID()}`;
    setEnv({ KEYPLANE_TABLE: missing });
    for (let attempt = 0; attempt < 2; attempt++) {
      const broken = await invoke({ method: 'GET', path: '/healthz' }, fresh);
      expect(broken.statusCode).toBe(503);
      expect(broken.headers['retry-after']).toBe('30');
      const { error, message } = json(broken) as { error: string; message: string };
      expect(error).toBe('unavailable');
      expect(message).toContain(`DynamoDB table "${missing}" does not exist in us-east-1`);
      expect(message).toContain(`create-table --table-name ${missing}`);
    }
    await ensureTable(adminDynamo, missing);
    try {
      const fixed = await invoke({ method: 'GET', path: '/healthz' }, fresh);
      expect(fixed.statusCode).toBe(200);
    } finally {
      await adminDynamo.send(new DeleteTableCommand({ TableName: missing }));
    }
  });
});

describe('Lambda: IAM principals in tenants (KEYPLANE_IAM_TENANTS)', () => {
  it("maps a role to its tenant; a principal no rule names is refused, never made some tenant's encoder", async () => {
    const tenantHandler = createLambdaHandler({
      ...process.env,
      KEYPLANE_IAM_TENANTS: 'arn:aws:sts::123456789012:assumed-role/AcmeEncoder/*=acme',
    });
    const acme = assumedRoleCaller('AcmeEncoder');
    const resourceId = `acme-${crypto.randomUUID()}`;
    // Fresh KIDs too: a KID belongs to one resource, and the tests above used the fixture's.
    const kids = new Map<string, string>();
    const body = fixture('v1/hls-several-keys.xml')
      .replace('id="several-keys-1"', `id="${resourceId}"`)
      .replace(/kid="([^"]+)"/g, (_m, kid: string) => {
        if (!kids.has(kid)) kids.set(kid, crypto.randomUUID());
        return `kid="${kids.get(kid)}"`;
      });
    const post = (iam: typeof acme) =>
      invoke(
        { method: 'POST', path: '/copyProtection', iam, headers: { 'Content-Type': 'application/xml' }, body },
        tenantHandler,
      );
    const first = await post(acme);
    expect(first.statusCode).toBe(200);
    expect(await verifyStore.resources.get(resourceId)).toMatchObject({ tenant: 'acme', kind: 'speke' });
    const refused = await post(OTHER_ENCODER);
    expect(refused.statusCode).toBe(403);
    expect(json(refused)).toMatchObject({ error: 'forbidden' });
    expect(json(refused).message).toContain('matches no KEYPLANE_IAM_TENANTS rule');
    expect(refused.body).not.toContain('PlainValue');
  });
});
