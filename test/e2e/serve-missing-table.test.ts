import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { SHARED } from '../helpers/paths';
import { runCli } from './cli-process';
import { freePort } from './keyplane-process';

// `keyplane serve` with KEYPLANE_STORE=dynamodb and a table that does not exist (moto): it must say
// so at start, with the table, the region and the command that creates it, and exit non-zero.

const MOTO = path.join(SHARED, 'tools/moto-server');
let endpoint = '';

beforeAll(() => {
  endpoint = execFileSync(MOTO, ['start'], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
}, 300_000);

it('refuses to start naming the missing DynamoDB table and the command that creates it', async () => {
  const table = `keyplane-missing-${crypto.randomUUID()}`;
  const port = await freePort();
  const run = await runCli(['serve', '--port', String(port)], {
    KEYPLANE_STORE: 'dynamodb',
    KEYPLANE_TABLE: table,
    KEYPLANE_AWS_ENDPOINT: endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    KEYPLANE_ADMIN_KEY: 'serve-missing-table-admin-key-0123456789',
  });
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain(`DynamoDB table "${table}" does not exist in eu-west-1`);
  expect(run.stderr).toContain(`create-table --table-name ${table}`);
  expect(run.stderr).toContain('serverless deploy');
  expect(run.stderr).not.toMatch(/listening/);
}, 60_000);
