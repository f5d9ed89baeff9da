import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { dynamoDbClientTimeouts, ensureTable } from '../../src/store/dynamodb';
import { kmsClientTimeouts } from '../../src/keys/kms-cipher';
import { SHARED } from './paths';
import { freePort } from './server-process';

const MOTO = path.join(SHARED, 'tools/moto-server');

/** Starts (or reuses) moto on 127.0.0.1:5000 with dummy credentials; returns its endpoint. */
export function startMoto(): string {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_REGION = 'us-east-1';
  const out = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 });
  return out.trim().split('\n').pop() ?? '';
}

/** A DynamoDB client with the store's outage timeouts, or the SDK defaults (no request timeout) when `patient`. */
export function dynamoClient(endpoint: string, patient = false): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint, ...(patient ? {} : dynamoDbClientTimeouts()) });
}

/** A KMS client with the cipher's outage timeouts, or the SDK defaults (no request timeout) when `patient`. */
export function kmsClient(endpoint: string, patient = false): KMSClient {
  return new KMSClient({ region: 'us-east-1', endpoint, ...(patient ? {} : kmsClientTimeouts()) });
}

/** Creates a fresh Keyplane table; returns its name and a function that deletes it. */
export async function freshTable(endpoint: string): Promise<{ table: string; drop: () => Promise<void> }> {
  const table = `keyplane-rel-${crypto.randomUUID()}`;
  const admin = dynamoClient(endpoint);
  await ensureTable(admin, table);
  admin.destroy();
  const drop = async () => {
    const c = dynamoClient(endpoint);
    await c.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    c.destroy();
  };
  return { table, drop };
}

/** Creates a symmetric KMS key in moto and returns its id. */
export async function createKmsKey(endpoint: string): Promise<string> {
  const kms = kmsClient(endpoint);
  try {
    const created = await kms.send(new CreateKeyCommand({ Description: 'keyplane reliability test' }));
    const keyId = created.KeyMetadata?.KeyId;
    if (!keyId) throw new Error('moto returned no KeyId');
    return keyId;
  } finally {
    kms.destroy();
  }
}

/** Where moto-server unpacked moto (same rule as the script: MOTO_HOME, XDG_CACHE_HOME or ~/.cache). */
function motoSitePackages(): string {
  const root =
    process.env.MOTO_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'moto-server');
  return path.join(root, 'unpacked/usr/lib/python3/dist-packages');
}

const SERIAL_MOTO = `
import sys
sys.path.insert(0, sys.argv[1])
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
`;

async function waitUntilUp(endpoint: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto did not come up on ${endpoint}`);
}

/**
 * A private moto that serves one request at a time. moto's own (threaded) server applies a
 * TransactWriteItems call item by item and, when a condition fails, restores a deep copy of every
 * table taken when the call began, so concurrent transactions see and resurrect each other's
 * cancelled writes. Real DynamoDB transactions are serializable; serving requests one by one
 * restores that property for concurrency tests.
 */
export async function startSerialMoto(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  startMoto(); // installs moto when missing
  const port = await freePort();
  const child = spawn('/usr/bin/python3', ['-c', SERIAL_MOTO, motoSitePackages(), String(port)], {
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilUp(endpoint);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { endpoint, stop };
}
