import fs from 'node:fs';
import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import YAML from 'yaml';
import { dynamoDbBackend } from '../../../src/store/dynamodb';
import { ROOT } from '../../helpers/paths';

// moto enforces no IAM, so the integration tests cannot see an action the Lambda's role lacks. This one
// gives the store a client that refuses every command serverless.yml does not grant, as AWS would.

/** The DynamoDB actions serverless.yml grants the Lambda role. */
function grantedDynamoActions(): Set<string> {
  const doc = YAML.parse(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8'));
  const statements = doc.provider.iam.role.statements as { Action: string[] }[];
  return new Set(statements.flatMap((s) => s.Action).filter((a) => a.startsWith('dynamodb:')));
}

/** An empty table behind IAM: a command the role lacks is an AccessDeniedException. */
function iamEnforcingEmptyTable(allowed: Set<string>): DynamoDBClient {
  const send = async (command: object) => {
    const action = `dynamodb:${command.constructor.name.replace(/Command$/, '')}`;
    if (!allowed.has(action)) {
      throw Object.assign(new Error(`not authorized to perform: ${action}`), {
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    }
    return action === 'dynamodb:Scan' || action === 'dynamodb:Query' ? { Items: [] } : {};
  };
  return { send, destroy: () => undefined } as unknown as DynamoDBClient;
}

describe("the Lambda role's DynamoDB actions", () => {
  it("let a new stack's first SPEKE request read a resource owner (the tenants migration scans)", async () => {
    const backend = dynamoDbBackend(iamEnforcingEmptyTable(grantedDynamoActions()), 'keyplane-prod');
    await expect(backend.resources.get('movie-1')).resolves.toBeUndefined();
  });

  it('would not without Scan: the request was a 503', async () => {
    const withoutScan = grantedDynamoActions();
    withoutScan.delete('dynamodb:Scan');
    const backend = dynamoDbBackend(iamEnforcingEmptyTable(withoutScan), 'keyplane-prod');
    await expect(backend.resources.get('movie-1')).rejects.toMatchObject({ status: 503 });
  });
});
