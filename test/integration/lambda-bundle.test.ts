import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { build } from 'esbuild';
import { ensureTable } from '../../src/store/dynamodb';
import { assumedRoleCaller, restApiEvent, type EventSpec } from '../helpers/api-gateway-event';
import { responseKeys } from '../helpers/cpix';
import { fixture } from '../helpers/fixtures';
import { ROOT, SHARED } from '../helpers/paths';

// The esbuild bundle `serverless package` ships (esbuild.lambda.js), built into dist/lambda and run in
// a fresh Node process with nothing but the bundle: API Gateway events in, proxy results out, against
// DynamoDB and KMS in moto. `npm run test:node22` runs this file under Node 22, the Lambda's runtime.

const { ESBUILD_OPTIONS } = require('../../esbuild.lambda.js') as { ESBUILD_OPTIONS: object };
const MOTO = path.join(SHARED, 'tools/moto-server');
const BUNDLE_DIR = path.join(ROOT, 'dist/lambda');
const BUNDLE = path.join(BUNDLE_DIR, 'src/lambda.js');
const TABLE = `keyplane-bundle-${crypto.randomUUID()}`;
const ADMIN_KEY = 'bundle-test-admin-key-0123456789abcdef';

/** Invokes the bundle's handler once per event in one child process (one cold start, then warm). Its
 * log lines go to stdout, the results to a file. Then the process dies at once, as a frozen Lambda container
 * does: a log line not written by the time the handler returned is lost, as it could be in CloudWatch. */
const RUNNER = `
const { handler } = require(process.argv[1]);
let input = '';
process.stdin.on('data', (d) => (input += d)).on('end', async () => {
  const out = [];
  for (const event of JSON.parse(input)) out.push(await handler(event, {}));
  require('node:fs').writeFileSync(process.argv[2], JSON.stringify({ node: process.version, results: out }));
  process.kill(process.pid, 'SIGKILL');
});
`;

interface Result {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

let endpoint = '';
let kmsKeyId = '';
let dynamo: DynamoDBClient;

beforeAll(async () => {
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  const aws = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  dynamo = new DynamoDBClient(aws);
  await ensureTable(dynamo, TABLE);
  const kms = new KMSClient(aws);
  kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: 'keyplane bundle test' }))).KeyMetadata?.KeyId ?? '';
  kms.destroy();
  fs.rmSync(BUNDLE_DIR, { recursive: true, force: true });
  await build({
    ...ESBUILD_OPTIONS,
    entryPoints: [path.join(ROOT, 'src/lambda.ts')],
    outfile: BUNDLE,
    logLevel: 'error',
  });
}, 300_000);

afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: TABLE })).catch(() => undefined);
  dynamo.destroy();
});

async function runBundle(
  events: EventSpec[],
  env: Record<string, string> = {},
): Promise<{ node: string; results: Result[]; log: string }> {
  const resultsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bundle-')), 'results.json');
  const child = execFile(process.execPath, ['-e', RUNNER, BUNDLE, resultsFile], {
    cwd: ROOT, // loadOpenApi() finds openapi/openapi.yaml under the working directory, as in /var/task
    env: {
      PATH: process.env.PATH,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      KEYPLANE_STORE: 'dynamodb',
      KEYPLANE_TABLE: TABLE,
      KEYPLANE_AWS_ENDPOINT: endpoint,
      KEYPLANE_KMS_KEY_ID: kmsKeyId,
      KEYPLANE_DEPLOYMENT: 'bundle-test',
      // As serverless.yml deploys it: only the admin key's hash in the environment.
      KEYPLANE_ADMIN_KEY_SHA256: crypto.createHash('sha256').update(ADMIN_KEY).digest('hex'),
      KEYPLANE_PUBLIC_URL: 'https://kp7x2abcde.execute-api.us-east-1.amazonaws.com/prod',
      KEYPLANE_LOG_LEVEL: 'info',
      ...env,
    },
    timeout: 60_000,
  });
  const done = promisify((cb: (err: Error | null, out?: string) => void) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.once('error', cb);
    child.once('close', (code, signal) =>
      signal === 'SIGKILL' ? cb(null, out) : cb(new Error(`bundle exited ${code ?? signal}: ${err}`)),
    );
  })();
  child.stdin?.end(JSON.stringify(events.map(restApiEvent)));
  const log = (await done) ?? '';
  const results = fs.readFileSync(resultsFile, 'utf8');
  fs.rmSync(path.dirname(resultsFile), { recursive: true, force: true });
  return { ...JSON.parse(results), log };
}

describe(`the esbuild Lambda bundle (dist/lambda) in a bare Node ${process.version} process`, () => {
  it('serves health, a SPEKE exchange from an IAM caller and the key bytes to an API key', async () => {
    const iam = assumedRoleCaller('KeyplaneMediaConvert-prod');
    const body = fixture('v1/hls-several-keys.xml');
    const speke: EventSpec = {
      method: 'POST',
      path: '/copyProtection',
      iam,
      headers: { 'Content-Type': 'application/xml' },
      body,
    };
    const { node, results, log } = await runBundle([{ method: 'GET', path: '/healthz' }, speke]);
    expect(node).toBe(process.version);
    expect(log).toContain('keyplane started');
    expect(log).toContain(`dynamodb (table ${TABLE}, region us-east-1`);
    expect(log).toContain(`aws-kms (key ${kmsKeyId}, region us-east-1)`);
    expect(log).not.toContain(ADMIN_KEY);
    const [health, answer] = results as [Result, Result];
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', store: { backend: 'dynamodb' }, cipher: 'kms' });
    expect(answer.statusCode).toBe(200);
    const keys = responseKeys(answer.body);
    expect(keys.size).toBe(2);
    const [kid, { key }] = [...keys][0] as [string, { key: Buffer }];
    const delivery = await runBundle([
      { method: 'GET', path: `/keys/several-keys-1/${kid}`, headers: { Authorization: `Bearer ${ADMIN_KEY}` } },
    ]);
    const [bytes] = delivery.results as [Result];
    expect(bytes.statusCode).toBe(200);
    expect(bytes.isBase64Encoded).toBe(true);
    expect(Buffer.from(bytes.body, 'base64')).toEqual(key);
  });

  it('logs and answers 503 naming a missing table', async () => {
    const missing = `keyplane-missing-${crypto.randomUUID()}`;
    const { results, log } = await runBundle([{ method: 'GET', path: '/healthz' }], { KEYPLANE_TABLE: missing });
    // The function log says it too (CloudWatch), as a fatal start failure naming the table.
    expect(log).toMatch(/"level":60.*keyplane failed to start/);
    expect(log).toContain(`DynamoDB table \\"${missing}\\" does not exist`);
    const [res] = results as [Result];
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body).message).toContain(`DynamoDB table "${missing}" does not exist`);
  });
});
